"""Walk a Keras model layer by layer, nested models included, and name layers by path.

A transfer-learning model holds its base (VGG16, MobileNetV2, ...) as one layer. Keras only
exposes the outer graph, so `model.get_layer("block5_conv3")` fails and a sub-model asking for
an inner layer's output is "graph disconnected". Here every leaf layer gets a path such as
"vgg16/block5_conv3", and `walk` runs the whole model leaf by leaf so that any path can be tapped.
"""
from dataclasses import dataclass

import keras
from keras import tree


@dataclass(frozen=True)
class Leaf:
    """One leaf layer of a (possibly nested) model: its path, the layer, its output shape."""
    path: str
    layer: keras.layers.Layer
    shape: tuple


def _functional(model):
    """The Functional graph behind a Functional or a built Sequential model."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                f"Sequential model {model.name!r} is not built: give it an Input layer "
                "or call it once on data before explaining it.")
        return graph
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    raise ValueError(
        f"cams needs a Functional or Sequential Keras model; got {type(model).__name__}, "
        "whose layers cannot be walked. Wrap its layers in keras.Model(inputs, outputs).")


def _is_model(layer):
    return isinstance(layer, keras.Model)


def _nodes(graph):
    """The graph's call nodes in execution order (inputs excluded)."""
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def leaves(model, prefix=""):
    """Every leaf layer of `model` in execution order, descending into nested models."""
    found = []
    for node in _nodes(_functional(model)):
        layer = node.operation
        path = prefix + layer.name
        if _is_model(layer):
            found.extend(leaves(layer, path + "/"))
        else:
            shape = tuple(node.outputs[0].shape) if len(node.outputs) == 1 else None
            found.append(Leaf(path, layer, shape))
    return found


def walk(model, x, call, prefix=""):
    """Run `model` on `x`, computing each leaf as `call(path, layer, args, kwargs)`.

    Returns the model's output tensor. Nested models are entered, not called, so their inner
    layers are visible to `call` under their paths.
    """
    graph = _functional(model)
    values = {id(ref): value for ref, value in zip(graph.inputs, tree.flatten(x))}
    for node in _nodes(graph):
        args, kwargs = node.arguments.fill_in(values)
        layer = node.operation
        path = prefix + layer.name
        if _is_model(layer):
            result = walk(layer, args[0], call, path + "/")
        else:
            result = call(path, layer, args, kwargs)
        for ref, value in zip(node.outputs, tree.flatten(result)):
            values[id(ref)] = value
    return values[id(graph.outputs[0])]


def call_inference(path, layer, args, kwargs):
    """The default leaf call: the layer itself, in inference mode."""
    if getattr(layer, "_call_has_training_arg", False):
        kwargs = {**kwargs, "training": False}
    return layer(*args, **kwargs)


def is_spatial(shape):
    """True for a 4-D (N, h, w, channels) output whose map has more than one cell."""
    if shape is None or len(shape) != 4:
        return False
    h, w = shape[1], shape[2]
    return h is None or w is None or h * w > 1


def conv_layers(model):
    """Every path usable as a Grad-CAM layer (4-D output, h*w > 1), in order; the default last."""
    return [leaf.path for leaf in leaves(model) if is_spatial(leaf.shape)]


def resolve(model, layer=None):
    """The Leaf that `layer` names: a path, a unique bare name, or None for the default."""
    all_leaves = leaves(model)
    usable = [leaf for leaf in all_leaves if is_spatial(leaf.shape)]
    if layer is None:
        if not usable:
            raise ValueError(f"model {model.name!r} has no layer with a spatial 4-D output "
                             "(N, h, w, channels); Grad-CAM needs a convolutional feature map.")
        return usable[-1]
    matches = [leaf for leaf in all_leaves if leaf.path == layer]
    if not matches:
        matches = [leaf for leaf in all_leaves if leaf.path.split("/")[-1] == layer]
    if len(matches) > 1:
        raise ValueError(f"layer {layer!r} is ambiguous; use one of the full paths: "
                         + ", ".join(leaf.path for leaf in matches))
    if not matches:
        raise ValueError(f"unknown layer {layer!r}; valid layers are: "
                         + ", ".join(leaf.path for leaf in usable))
    leaf = matches[0]
    if not is_spatial(leaf.shape):
        raise ValueError(f"layer {leaf.path!r} has output shape {leaf.shape}, not a spatial "
                         "4-D feature map (N, h, w, channels) larger than 1x1; valid layers are: "
                         + ", ".join(x.path for x in usable))
    return leaf


def input_shape(model):
    """The model's single input shape, e.g. (None, 224, 224, 3); refuses multi-input models."""
    graph = _functional(model)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"cams explains models with one input and one output (choose an output "
                         f"with output=); {model.name!r} has {len(graph.inputs)} inputs and "
                         f"{len(graph.outputs)} outputs.")
    shape = tuple(graph.inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(f"cams explains image models with input (N, H, W, C); "
                         f"{model.name!r} takes {shape}.")
    return shape


def flat_model(model, end_before=None):
    """An equivalent Functional model with every nested layer inlined, sharing the weights.

    With end_before=<a leaf layer>, the model ends at that layer's input instead (the logits
    behind a standalone softmax layer, say).
    """
    inputs = keras.Input(batch_shape=input_shape(model))
    taps = {}

    def call(path, layer, args, kwargs):
        if layer is end_before:
            taps["input"] = args[0]
        return call_inference(path, layer, args, kwargs)

    outputs = walk(model, inputs, call)
    suffix = "_flat" if end_before is None else f"_flat_to_{end_before.name}"
    try:
        return keras.Model(inputs, taps["input"] if end_before is not None else outputs,
                           name=model.name + suffix)
    except ValueError as err:
        raise ValueError(f"cannot flatten {model.name!r} into one model: {err}") from err


def output_names(model):
    """The name of the layer behind each of the model's outputs, in order."""
    return [t._keras_history.operation.name for t in _functional(model).outputs]


def output_view(model, output=None):
    """`model` itself when it has one output; else a model sharing its layers that ends at the
    output named (or indexed) by `output`. ValueError naming the outputs otherwise."""
    graph = _functional(model)
    if len(graph.outputs) == 1 and output in (None, 0, output_names(model)[0]):
        return model
    names = output_names(model)
    if output is None:
        raise ValueError(f"{model.name!r} has {len(names)} outputs ({', '.join(names)}); pass "
                         "output= one of those names, or its index")
    if isinstance(output, str):
        if output not in names:
            raise ValueError(f"unknown output {output!r}; {model.name!r} has: {', '.join(names)}")
        output = names.index(output)
    if not isinstance(output, int) or not 0 <= output < len(names):
        raise ValueError(f"output must be one of {', '.join(names)} or an index "
                         f"0..{len(names) - 1}; got {output!r}")
    return keras.Model(graph.inputs, graph.outputs[output], name=f"{model.name}_{names[output]}")
