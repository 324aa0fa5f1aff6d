"""What Grad-CAM differentiates: the class logit y^c (the paper) or the class probability.

The logit is taken without touching the caller's model: when softmax/sigmoid is a separate
Activation/Softmax layer, its input is the logit; when it is fused into the last layer
(Dense(..., activation="softmax")), a linear twin of that layer reads the same weights.
"""
from dataclasses import dataclass

import keras
from keras import ops

SCORES = ("logit", "probability")
_SQUASHING = ("softmax", "sigmoid")


def _activation_name(layer):
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", "linear")


KINDS = ("multiclass", "multilabel", "binary", "regression")


@dataclass(frozen=True)
class Head:
    """The model's final layer seen as a classifier head. Its kind:

    multiclass  several outputs, softmax (or linear logits): one class per image
    multilabel  several sigmoid outputs: each label has its own probability (CheXNet-style)
    binary      one sigmoid unit: class 1 is p, class 0 is 1 - p (logits z and -z)
    regression  one linear unit: "the output", class 0 only
    """
    layer: keras.layers.Layer
    activation: str        # "softmax", "sigmoid", or whatever else ends the model
    n_outputs: int         # units of the output
    twin: keras.layers.Layer | None  # linear copy of a fused softmax/sigmoid layer

    @property
    def kind(self):
        if self.n_outputs == 1:
            return "binary" if self.activation == "sigmoid" else "regression"
        return "multilabel" if self.activation == "sigmoid" else "multiclass"

    @property
    def binary(self):
        return self.kind == "binary"

    @property
    def n_classes(self):
        """How many classes (labels) class_index may name."""
        return 2 if self.binary else self.n_outputs

    @property
    def logit_is_input(self):
        """True when the logit is the input of a standalone softmax/sigmoid layer."""
        return self.twin is None and self.activation in _SQUASHING


def head_of(model, final_leaf):
    """Describe the head whose last leaf is `final_leaf` (a layers.Leaf)."""
    shape = final_leaf.shape
    if shape is None or len(shape) != 2 or shape[1] is None:
        raise ValueError(f"cams explains classifiers with output (N, classes); "
                         f"{model.name!r} outputs {shape}.")
    layer = final_leaf.layer
    activation = _activation_name(layer)
    twin = None
    standalone = isinstance(layer, (keras.layers.Activation, keras.layers.Softmax))
    if activation in _SQUASHING and not standalone:
        config = {**layer.get_config(), "activation": "linear", "name": layer.name + "_logit"}
        twin = type(layer).from_config(config)
        twin.build(_input_shape(layer))
    return Head(layer, activation, int(shape[1]), twin)


def _input_shape(layer):
    if layer._inbound_nodes:
        return tuple(layer._inbound_nodes[0].input_tensors[0].shape)
    (shape,) = layer._build_shapes_dict.values()  # a layer of a subclassed model
    return (None,) + tuple(shape[1:])


def twin_logit(head, x, value_of):
    """The fused layer's pre-activation on `x`, reading the original weights via `value_of`."""
    mapping = [(t, value_of(v)) for t, v in zip(head.twin.variables, head.layer.variables)]
    with keras.StatelessScope(state_mapping=mapping):
        return head.twin(x)


def first_argmax(values):
    """The index (N,) int32 of each row's largest value, the lowest index on a tie (as NumPy's
    argmax): every Keras backend and tf-keras-vis then pick the same class."""
    values = ops.cast(values, "float32")
    n = ops.shape(values)[-1]
    at_max = values >= ops.max(values, axis=-1, keepdims=True)
    index = ops.cast(ops.arange(n), "int32")
    return ops.min(ops.where(at_max, index[None, :], n), axis=-1)


def predicted(logits, head):
    """The predicted class (N,) int32 from the head's logits: the most probable label of a
    multi-label head, class 0 ("the output") of a regression head; the lowest on a tie."""
    if head.binary:
        return ops.cast(logits[:, 0] > 0, "int32")
    if head.kind == "regression":
        return ops.zeros(ops.shape(logits)[:1], "int32")
    return first_argmax(logits)


def predicted_from_outputs(outputs, head):
    """The predicted class (N,) from the model's own outputs (probabilities or logits): the
    class its predict() shows, the lowest on a tie."""
    if head.binary:
        return ops.cast(outputs[:, 0] > 0.5, "int32")
    return predicted(outputs, head)  # argmax is the same on probabilities and logits


def select(values, classes, head):
    """Per-image score (N,): values[:, class], or +-values[:, 0] for a binary head.
    classes may also be (N, L): the scores (N, L) of L classes per image. Keras ops: the
    running Keras backend's tensors in, the same out."""
    values = ops.cast(values, "float32")  # mixed-precision models: scores in float32
    one = len(classes.shape) == 1
    if head.binary:
        sign = 2.0 * ops.cast(classes, "float32") - 1.0
        z = values[:, 0]
        return sign * (z if one else z[:, None])
    picked = ops.take_along_axis(values, classes[:, None] if one else classes, axis=1)
    return picked[:, 0] if one else picked


def probability_from_logits(logits, classes, head):
    """The probability (N,) of each image's class from the logits: softmax across classes,
    sigmoid of each label's own logit (multi-label), sigmoid(+-z) (binary); a regression
    head's output is its own score."""
    logits = ops.cast(logits, "float32")
    if head.kind == "regression":
        return select(logits, classes, head)
    if head.kind in ("binary", "multilabel"):
        return ops.sigmoid(select(logits, classes, head))
    return select(ops.softmax(logits, axis=-1), classes, head)


def probability_from_outputs(outputs, classes, head):
    """The probability (N,) of each image's class from the model's own outputs."""
    outputs = ops.cast(outputs, "float32")
    if head.activation not in _SQUASHING:  # the outputs are logits
        return probability_from_logits(outputs, classes, head)
    if head.binary:
        return ops.where(classes == 1, outputs[:, 0], 1.0 - outputs[:, 0])
    return select(outputs, classes, head)


def all_probabilities(outputs, head):
    """Every class's probability (N, n_classes) from the model's own outputs, as NumPy:
    a softmax row sums to 1; multi-label probabilities are independent."""
    import numpy as np

    outputs = np.asarray(outputs, np.float64)
    if head.kind == "regression":
        return outputs
    if head.kind == "multiclass" and head.activation != "softmax":  # logits
        e = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if head.binary:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def choose(classes, outputs, head):
    """`classes` (N,) with each -1 replaced by the predicted class: the one the model's own
    outputs show (logits can break a tie that the probabilities keep)."""
    best = predicted_from_outputs(outputs, head)
    return ops.where(classes < 0, best, classes)
