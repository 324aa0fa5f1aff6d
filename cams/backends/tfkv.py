"""tf-keras-vis backend: its Gradcam, GradcamPlusPlus, Layercam and Scorecam on a flattened copy.

tf-keras-vis cannot reach a layer inside a nested base model, so it is handed a clone of
`layers.flat_model(model)`, an equivalent model without nesting. For logits its own
ReplaceToLinear modifies that clone (never the caller's layers); a standalone Softmax/Activation
layer is simply left off the flat model's end instead.
"""
import functools
import warnings

import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.layercam import Layercam
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

from cams import cache, methods
from cams.model import layers, scores, subclassed
from cams.backends import CONVENTIONS as _ALL_CONVENTIONS
from cams.backends.backend import Backend, each_class

CONVENTIONS = _ALL_CONVENTIONS["tf-keras-vis"]
OTHERS = "eager, graph"


class TfKerasVisBackend(Backend):
    """Computes maps with tf-keras-vis' own classes."""

    name = "tf-keras-vis"

    def __init__(self, model, target, info, score):
        head = self._head = info.head
        self._inputs = info.inputs
        self._score, self._layer_name = score, target.path.split("/")[-1]
        if target.grid is not None:
            raise ValueError(f"{target.path!r} outputs transformer tokens (N, T, D); tf-keras-vis "
                             "averages gradients over every token, the class token included, "
                             "and cannot lay patches on a grid; backends "
                             f"{OTHERS} explain it")
        if not isinstance(target.layer, keras.layers.Layer):  # e.g. ConvNeXt's `x + y`
            raise ValueError(f"{target.path!r} is an operation ({type(target.layer).__name__}), "
                             "not a layer, and tf-keras-vis finds only layers; backends "
                             f"{OTHERS} explain it")
        if subclassed.is_subclassed(model):
            raise ValueError(f"tf-keras-vis reads layer outputs off a Functional graph, and "
                             f"{model.name!r} is a subclassed model; backends {OTHERS} explain "
                             "it as it is")
        try:
            self._full = layers.flat_model(model)
            self._logit_model = (layers.flat_model(model, end_before=head.layer)
                                 if head.logit_is_input else self._full)
        except ValueError as err:
            raise ValueError(f"{err} tf-keras-vis needs one flat model; backends {OTHERS} "
                             f"explain {model.name!r} as it is.") from err
        if sum(layer.name == self._layer_name for layer in self._full.layers) != 1:
            raise ValueError(f"tf-keras-vis finds layers by name, and {self._layer_name!r} is not "
                             f"unique once nested models are flattened; use backends {OTHERS}.")
        self._watch = cache.WeightsWatch(model.variables)
        self._clones = {}
        self._outputs = tf.function(lambda x: self._full(x, training=False))

    def _seed(self, x, extras):
        """What tf-keras-vis is given: the images, or every input in the model's order."""
        return self._inputs.assemble(x, extras) if extras else x

    def _clone(self, logits):
        """tf-keras-vis asks each layer for `.output`, its first call's: only a clone of the flat
        model has layers called once. The clone holds a copy of the weights, kept in sync."""
        if logits not in self._clones:
            source = self._logit_model if logits else self._full
            clone = keras.models.clone_model(source)
            clone.set_weights(source.get_weights())
            if logits and self._head.twin is not None:
                ReplaceToLinear()(clone)
            # Scorecam calls predict without verbose=0: keep its progress bars off our output.
            clone.predict = functools.partial(clone.predict, verbose=0)
            self._clones[logits] = (clone, source)
        return self._clones[logits][0]

    def _check(self, method, options, extras):
        if method not in CONVENTIONS:
            raise ValueError(f"method {method!r} is not in tf-keras-vis; backends {OTHERS} "
                             f"compute it (tf-keras-vis has {', '.join(CONVENTIONS)})")
        for key, value in CONVENTIONS[method].items():
            if options.get(key) != value:
                raise ValueError(
                    f"tf-keras-vis computes {method} with {key}={value!r} only; pass {key}="
                    f"{value!r}, or use backend {OTHERS} for {key}={options.get(key)!r}")
        if method == "scorecam":
            if extras:
                raise ValueError("tf-keras-vis' Scorecam masks every input of the model, the "
                                 "non-image ones too; backends eager, graph mask the image only")
            if self._score != "probability":
                raise ValueError("tf-keras-vis' Scorecam always weighs channels by the softmax "
                                 "probability; use score='probability', or backends "
                                 f"{OTHERS} for score={self._score!r}")
            if self._head.kind != "multiclass":
                raise ValueError("tf-keras-vis' Scorecam applies softmax across the outputs, "
                                 f"which is wrong for a {self._head.kind} head (every channel "
                                 "weight 1 for a single unit, labels made to compete for a "
                                 f"multi-label one); backends {OTHERS} compute Score-CAM "
                                 "correctly for it")

    def cam(self, x, classes, method, options, extras=()):
        """methods.Maps computed by tf-keras-vis (several classes per image: one at a time)."""
        self._check(method, options, extras)
        if classes.ndim == 2:
            return each_class(lambda xs, c: self.cam(xs, c, method, options, extras), x, classes)
        if self._watch.changed():
            for clone, source in self._clones.values():
                clone.set_weights(source.get_weights())
        outputs = self._outputs(self._seed(tf.constant(x), extras)).numpy()
        best = scores.predicted_from_outputs(outputs, self._head).numpy()
        chosen = np.where(classes < 0, best, classes).astype(np.int32)
        if method == "scorecam":
            cam = self._scorecam(x, chosen, options)
        else:
            logits = self._score == "logit"
            kind = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "layercam": Layercam}[method]
            cam = kind(self._clone(logits), clone=False)(
                self._target(chosen), self._seed(x, list(extras)), penultimate_layer=self._layer_name,
                seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False)
        return methods.Maps(np.asarray(cam), outputs, chosen)

    def _target(self, chosen):
        if self._head.binary:
            return BinaryScore([bool(c) for c in chosen])
        return CategoricalScore([int(c) for c in chosen])

    def _scorecam(self, x, chosen, options):
        # Scorecam applies softmax itself, so it is given the logits.
        scorecam = Scorecam(self._clone(logits=True), clone=False)
        kwargs = dict(penultimate_layer=self._layer_name, seek_penultimate_conv_layer=False,
                      batch_size=options["masks_per_pass"], max_N=options["top_k"],
                      expand_cam=False, normalize_cam=False)
        with warnings.catch_warnings():
            # Scorecam hands predict a one-element list; Keras warns about the structure, harmlessly.
            warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match",
                                    category=UserWarning)
            if options["top_k"] is None:
                return scorecam(self._target(chosen), x, **kwargs)
            # With max_N, tf-keras-vis keeps the union of the batch's top channels; one image at
            # a time gives each image its own top_k, as cams defines it.
            return np.concatenate([scorecam(self._target(chosen[i:i + 1]), x[i:i + 1], **kwargs)
                                   for i in range(len(x))])
