"""Keras 2 (tf_keras) models, as saved by TensorFlow 2.x code: rebuilt as Keras 3 models with
the same layers and weights, so every backend can walk them.

Keras 3 cannot walk a tf_keras model's graph, and cannot load every legacy .h5 either (a base
model nested with `base(x, training=False)`, the usual transfer-learning shape, fails with
"has loops or disconnected nodes"). tf_keras reads the file; each layer is then recreated from
its config in Keras 3 and called in the same order, nested models recursively.
"""
import os
from collections.abc import Mapping, Sequence


def is_keras2(model):
    """True for a tf_keras (Keras 2) model object."""
    return type(model).__module__.split(".")[0] == "tf_keras"


def load(path):
    """A Keras 2 model file (.h5, or a SavedModel folder) read by tf_keras, as a Keras 3 model."""
    import tf_keras

    return convert(tf_keras.models.load_model(path, compile=False))


def as_keras3(model):
    """`model` itself, or for a tf_keras model its Keras 3 twin: converted once (said in one
    warning line), cached with it, and converted again when its weights change."""
    if not is_keras2(model):
        return model
    import warnings

    from cams import cache

    def build():
        warnings.warn(f"cams: {model.name!r} is a Keras 2 (tf_keras) model; explaining a Keras 3 "
                      "copy with the same layers and weights (your model is not changed). "
                      "cams.model.keras2.convert(model) makes the copy once.", stacklevel=3)
        return {"watch": cache.WeightsWatch(model.weights), "twin": None}

    state = cache.cached(model, "keras3", build)
    with cache.lock():
        if state["watch"].changed() or state["twin"] is None:
            state["twin"] = convert(model)
    return state["twin"]


def convert(model):
    """A Keras 3 Functional model equal to the tf_keras Functional or Sequential `model`: same
    layer names, nesting and weights (copied; `model` is not changed)."""
    import keras
    import tensorflow as tf

    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"cams converts Functional and Sequential Keras 2 models; "
                         f"{model.name!r} is a subclassed {type(model).__name__}, whose graph "
                         "is not recorded. Rebuild it as keras.Model(inputs, outputs).")
    made = {}  # id(Keras 2 layer) -> its Keras 3 twin (a layer called twice is shared)
    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype.name, name=_input_name(t))
              for t in model.inputs]
    values = {id(t): v for t, v in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            structure = (node.call_args, node.call_kwargs)
            flat = [values.get(id(a), a) for a in tf.nest.flatten(structure)]
            if type(node.layer).__name__ in _TF_OPS:
                result = _tf_op(node.layer.get_config(), structure, flat)
            else:
                twin = made.get(id(node.layer)) or made.setdefault(id(node.layer),
                                                                   _twin(node.layer))
                args, kwargs = tf.nest.pack_sequence_as(structure, flat)
                result = twin(*args, **kwargs)
            for ref, value in zip(tf.nest.flatten(node.output_tensors), tf.nest.flatten(result)):
                values[id(ref)] = value
    outputs = [values[id(t)] for t in model.outputs]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs,
                       name=model.name.replace("/", "_"))


def _input_name(tensor):
    return os.path.basename(tensor.name.split(":")[0]) or None


def _plain(value):
    """A layer config with TensorFlow's tracking wrappers (ListWrapper, _DictWrapper) made plain
    lists, tuples and dicts, which Keras 3 configs expect."""
    if isinstance(value, Mapping) or type(value).__name__ == "_DictWrapper":
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) \
            or type(value).__name__ == "ListWrapper":
        return [_plain(v) for v in value]
    return value


def _keras3_config(name, config):
    """Where Keras 3 reads a Keras 2 config differently: one-axis BatchNormalization takes an
    int, and a layer name may not hold "/" (DenseNet's "conv1/conv" becomes "conv1_conv")."""
    config = {**config, "name": config["name"].replace("/", "_")}
    axis = config.get("axis")
    if name == "BatchNormalization" and isinstance(axis, list) and len(axis) == 1:
        config["axis"] = axis[0]
    return config


def _accepted(cls, config):
    """The config without keys that Keras 3's class does not take (Keras 2 wrote `groups` and
    unused kernel settings for depthwise and separable convolutions)."""
    import inspect

    import keras

    taken = set()
    for klass in (cls, keras.layers.Layer):
        taken |= set(inspect.signature(klass.__init__).parameters)
    return {k: v for k, v in config.items() if k in taken}


_TF_OPS = ("TFOpLambda", "SlicingOpLambda")


def _tf_op(config, structure, flat):
    """A Keras 2 TFOpLambda call (a TensorFlow op on Keras tensors, e.g. `x + 3.0`, recorded
    as "__operators__.add") made by a Keras 3 Lambda layer calling the same op; the layer takes
    the Keras tensors, the other arguments are bound into it."""
    import keras
    import tensorflow as tf

    op = tf
    for part in config["function"].split("."):
        op = getattr(op, part)
    slots = [i for i, a in enumerate(flat) if isinstance(a, keras.KerasTensor)]

    def call(tensors):
        filled = list(flat)
        for i, t in zip(slots, tensors if isinstance(tensors, (list, tuple)) else [tensors]):
            filled[i] = t
        args, kwargs = tf.nest.pack_sequence_as(structure, filled)
        kwargs = {k: v for k, v in kwargs.items() if k != "name"}
        return op(*args, **kwargs)

    layer = keras.layers.Lambda(call, name=config["name"].replace("/", "_").replace(".", "_"))
    tensors = [flat[i] for i in slots]
    return layer(tensors if len(tensors) > 1 else tensors[0])


def _keras3_class(name):
    """The Keras 3 class of a Keras 2 layer class name, or None."""
    import keras

    if hasattr(keras.layers, name):
        return getattr(keras.layers, name)
    # Layers that keras.applications define for themselves (ConvNeXt's LayerScale,
    # InceptionResNetV2's CustomScaleLayer) live with their application in both Kerases.
    from keras.src.applications import convnext, inception_resnet_v2

    for module in (convnext, inception_resnet_v2):
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _twin(layer):
    """The Keras 3 layer for a Keras 2 one: a nested model converted, or the same class from
    the same config, built with the same weights."""
    import keras

    if hasattr(layer, "_nodes_by_depth"):
        return convert(layer)
    name = type(layer).__name__
    try:
        cls = _keras3_class(name)
        config = _keras3_config(name, _plain(layer.get_config()))
        twin = (cls.from_config(_accepted(cls, config)) if cls is not None else
                keras.saving.deserialize_keras_object(
                    {"class_name": name, "config": config, "module": None,
                     "registered_name": name}))
    except Exception as err:
        raise ValueError(f"cannot rebuild Keras 2 layer {layer.name!r} "
                         f"({type(layer).__name__}) in Keras 3: {err}") from None
    twin._cams_keras2_weights = layer.get_weights()  # set once the twin is built, in _finish
    return _Deferred(twin)


class _Deferred:
    """Calls a fresh Keras 3 layer (which builds it), then copies the Keras 2 weights in."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, *args, **kwargs):
        out = self.layer(*args, **kwargs)
        weights = getattr(self.layer, "_cams_keras2_weights", None)
        if weights is not None:
            self.layer.set_weights(weights)
            del self.layer._cams_keras2_weights
        return out
