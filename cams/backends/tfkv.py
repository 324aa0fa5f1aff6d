"""tf-keras-vis backend: its Gradcam class, on a flattened copy of nested models.

tf-keras-vis cannot reach a layer inside a nested base model, so it is handed a clone of
`layers.flat_model(model)`, an equivalent model without nesting. For score="logit" its own
ReplaceToLinear modifies that clone (never the caller's layers); a standalone
Softmax/Activation layer is simply left off the flat model's end instead.
"""
import keras
import numpy as np
import tensorflow as tf
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

from cams import cache, layers, scores


class TfKerasVisBackend:
    """Computes the Grad-CAM map with tf_keras_vis.gradcam.Gradcam."""

    name = "tf-keras-vis"

    def __init__(self, model, target, head, score):
        self._head, self._layer_name = head, target.path.split("/")[-1]
        full = layers.flat_model(model)
        flat = (layers.flat_model(model, end_before=head.layer)
                if score == "logit" and head.logit_is_input else full)
        if sum(layer.name == self._layer_name for layer in flat.layers) != 1:
            raise ValueError(f"tf-keras-vis finds layers by name, and {self._layer_name!r} is not "
                             "unique once nested models are flattened; use another backend.")
        # tf-keras-vis asks each layer for `.output`, its first call's: only a clone of the flat
        # model has layers called once. The clone holds a copy of the weights, kept in sync.
        clone = keras.models.clone_model(flat)
        if score == "logit" and head.twin is not None:
            ReplaceToLinear()(clone)
        self._gradcam = Gradcam(clone, clone=False)
        self._source = flat
        self._watch = cache.WeightsWatch(model.variables)
        self._outputs = tf.function(lambda x: full(x, training=False))

    def cam(self, x, classes, method):
        """(cam (N, h, w) before scaling, outputs, classes) computed by tf-keras-vis."""
        if method != "gradcam":
            raise ValueError(f"method {method!r} is not available in the tf-keras-vis backend")
        if self._watch.changed():
            self._gradcam.model.set_weights(self._source.get_weights())
        outputs = self._outputs(tf.constant(x)).numpy()
        best = scores.predicted_from_outputs(outputs, self._head).numpy()
        chosen = np.where(classes < 0, best, classes).astype(np.int32)
        target = (BinaryScore([bool(c) for c in chosen]) if self._head.binary
                  else CategoricalScore([int(c) for c in chosen]))
        cam = self._gradcam(target, x, penultimate_layer=self._layer_name,
                            seek_penultimate_conv_layer=False, expand_cam=False,
                            normalize_cam=False)
        return np.asarray(cam), outputs, chosen

