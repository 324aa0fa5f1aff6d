"""Subclassed Keras models: tap the layers their `call` uses.

A subclassed model has no graph of layers to walk: its `call` is Python. What it does have is
layers it owns, each called through `Layer.__call__`, which looks `self.call` up at every call.
`tapping` puts a pass-through `call` on the layer instance while an explanation runs: it calls
the class's own `call` and hands the output to a callback registered by the current thread only
(another thread using the same model meanwhile sees the plain layer). When the last explanation
using a layer ends, the instance attribute is deleted and the layer is as it was.
"""
import contextlib
import threading

import keras

from cams import cache
from cams.model.layers import Inputs, Leaf

_lock = threading.Lock()
_users = {}  # id(layer) -> (layer, how many explanations are tapping it now)
_local = threading.local()


def is_subclassed(model):
    """True for a keras.Model whose layers form no Functional graph."""
    return (isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
            and not hasattr(model, "_nodes_by_depth"))


def _callbacks():
    if not hasattr(_local, "callbacks"):
        _local.callbacks = {}
    return _local.callbacks


def _install(layer):
    own_call = type(layer).call.__get__(layer)

    def call(*args, **kwargs):
        out = own_call(*args, **kwargs)
        callback = _callbacks().get(id(layer))
        return out if callback is None else callback(args, out)
    object.__setattr__(layer, "call", call)  # past Keras' attribute tracking


@contextlib.contextmanager
def tapping(callbacks):
    """Within, each layer in `callbacks` ({layer: fn(args, output) -> output}) passes its output
    through fn in this thread."""
    with _lock:
        for layer in callbacks:  # all checked before any is changed
            if id(layer) not in _users and "call" in vars(layer):
                raise ValueError(f"layer {layer.name!r} has its own `call` attribute on the "
                                 "instance; cams cannot tap it")
        for layer in callbacks:
            if id(layer) not in _users:
                _install(layer)
                _users[id(layer)] = (layer, 0)
            _users[id(layer)] = (layer, _users[id(layer)][1] + 1)
    mine = _callbacks()
    before = {id(layer): mine.get(id(layer)) for layer in callbacks}
    mine.update({id(layer): fn for layer, fn in callbacks.items()})
    try:
        yield
    finally:
        for key, fn in before.items():
            if fn is None:
                mine.pop(key, None)
            else:
                mine[key] = fn
        with _lock:
            for layer in callbacks:
                count = _users[id(layer)][1] - 1
                if count:
                    _users[id(layer)] = (layer, count)
                else:
                    del _users[id(layer)]
                    object.__delattr__(layer, "call")


def _paths(layer, prefix=""):
    """(path, leaf layer) for every layer under `layer` that holds no other layers."""
    for child in layer._flatten_layers(include_self=False, recursive=False):
        path = prefix + child.name
        children = list(child._flatten_layers(include_self=False, recursive=False))
        if children:
            yield from _paths(child, path + "/")
        else:
            yield path, child


def model_inputs(model):
    """The Inputs of a subclassed model: the one batch shape it was built with."""
    built = getattr(model, "_build_shapes_dict", None) or {}
    shapes = list(built.values())
    if not getattr(model, "built", False) or not shapes:
        raise ValueError(f"subclassed model {model.name!r} has not been called on one image "
                         "batch yet: call it once, e.g. model(images[:1]), before explaining it")
    if len(shapes) != 1 or not isinstance(shapes[0], tuple) or not all(
            isinstance(d, (int, type(None))) for d in shapes[0]):
        raise ValueError(f"subclassed model {model.name!r} was built with several inputs "
                         f"({built}); cams explains subclassed models of one image input; "
                         "build it as a Functional model to pass other inputs")
    shape = (None,) + tuple(shapes[0][1:])
    if len(shape) != 4:
        raise ValueError(f"cams explains image models with an input (N, H, W, C); "
                         f"{model.name!r} was built for {shape}")
    return Inputs(("input",), (shape,), ("float32",), 0)


def leaves(model):
    """Every leaf layer the model's `call` uses, in the order of their first call, each with
    the output shape it had then (from one call on a zero image); cached with the model."""
    return cache.cached(model, "subclassed leaves", lambda: _called_leaves(model))


def _called_leaves(model):
    paths = dict((id(layer), (path, layer)) for path, layer in _paths(model))
    shape = model_inputs(model).image_shape
    if None in shape[1:]:
        raise ValueError(f"subclassed model {model.name!r} was built for {shape}; cams needs "
                         "its image size to find its layers")
    seen = {}

    def record(key):
        def fn(args, out):
            if key not in seen:
                seen[key] = tuple(out.shape) if hasattr(out, "shape") else None
            return out
        return fn

    with tapping({layer: record(key) for key, (_, layer) in paths.items()}):
        model(keras.ops.zeros((1,) + shape[1:]), training=False)
    return [Leaf(paths[key][0], paths[key][1],
                 None if found is None else (None,) + found[1:])
            for key, found in seen.items()]


def run(model, x, calls):
    """model(x) in inference mode with the layers in `calls` tapped (see `tapping`)."""
    with tapping(calls):
        return model(x, training=False)
