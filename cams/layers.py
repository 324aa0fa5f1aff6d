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
        f"cams explains Keras 3 models (keras.Model: Functional, Sequential or subclassed); "
        f"got {type(model).__name__}")


def _is_model(layer):
    """A nested model whose layers `walk` enters; a subclassed one is run as one leaf."""
    from cams import subclassed

    return isinstance(layer, keras.Model) and not subclassed.is_subclassed(layer)


def _nodes(graph):
    """The graph's call nodes in execution order (inputs excluded)."""
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def leaves(model, prefix=""):
    """Every leaf layer of `model` in execution order, descending into nested models."""
    from cams import subclassed

    if not prefix and subclassed.is_subclassed(model):
        return subclassed.leaves(model)
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
        results = tree.flatten(result)
        if len(results) == 1 < len(node.outputs):  # reads_input's one _From for all outputs
            results = results * len(node.outputs)
        for ref, value in zip(node.outputs, results):
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


class _From:
    """What a tensor is computed from during `reads_input`: the indices of model inputs."""

    def __init__(self, indices):
        self.indices = frozenset(indices)


def reads_input(model, image):
    """The paths of the leaves whose output is computed from model input number `image`."""
    graph = _functional(model)
    found = set()

    def call(path, layer, args, kwargs):
        indices = set()
        for value in tree.flatten((args, kwargs)):
            if isinstance(value, _From):
                indices |= value.indices
        if image in indices:
            found.add(path)
        return _From(indices)

    walk(model, [_From([k]) for k in range(len(graph.inputs))], call)
    return found


def resolve(model, layer=None, image=0):
    """The Leaf that `layer` names: a path, a unique bare name, or None for the default (the
    last spatial layer computed from model input number `image`, the image input)."""
    all_leaves = leaves(model)
    usable = [leaf for leaf in all_leaves if is_spatial(leaf.shape)]
    from cams import subclassed

    if not subclassed.is_subclassed(model) and len(_functional(model).inputs) > 1:
        computed = reads_input(model, image)
        usable = [leaf for leaf in usable if leaf.path in computed]
    if layer is None:
        if not usable:
            raise ValueError(f"model {model.name!r} has no layer with a spatial 4-D output "
                             "(N, h, w, channels) computed from its image input; Grad-CAM needs "
                             "a convolutional feature map.")
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
    if leaf not in usable:
        why = (f"has output shape {leaf.shape}, not a spatial 4-D feature map (N, h, w, "
               "channels) larger than 1x1" if not is_spatial(leaf.shape)
               else "is not computed from the image input")
        raise ValueError(f"layer {leaf.path!r} {why}; valid layers are: "
                         + ", ".join(x.path for x in usable))
    return leaf


@dataclass(frozen=True)
class Inputs:
    """A model's inputs in its own order: names, shapes (None, ...), dtypes, and which one is
    the image the maps are drawn on. The others (clinical data, say) are passed through."""
    names: tuple
    shapes: tuple
    dtypes: tuple
    image: int

    @property
    def image_shape(self):
        return self.shapes[self.image]

    @property
    def others(self):
        """Indices of the inputs that are not the image."""
        return tuple(k for k in range(len(self.names)) if k != self.image)

    def assemble(self, x, extras):
        """The model's input list: the image x where it belongs, the others around it."""
        values = list(extras)
        values.insert(self.image, x)
        return values


def _describe_input(t):
    return f"{t.name} {tuple(t.shape)}"


def model_inputs(model, image_input=None):
    """The model's Inputs, its image being `image_input` (a name or index) or else the only
    4-D input; ValueError saying what was found otherwise."""
    from cams import subclassed

    if subclassed.is_subclassed(model):
        return subclassed.model_inputs(model)
    graph = _functional(model)
    tensors = list(graph.inputs)
    names = tuple(t.name for t in tensors)
    found = ", ".join(_describe_input(t) for t in tensors)
    if image_input is None:
        images = [k for k, t in enumerate(tensors) if len(t.shape) == 4]
        if len(images) != 1:
            if images:
                raise ValueError(f"{model.name!r} has several image inputs ({found}); pass "
                                 "image_input= the name of the one to explain")
            raise ValueError(f"cams explains image models with an input (N, H, W, C); "
                             f"{model.name!r} takes {found}")
        image = images[0]
    elif isinstance(image_input, str):
        if image_input not in names:
            raise ValueError(f"unknown image_input {image_input!r}; {model.name!r} takes {found}")
        image = names.index(image_input)
    elif isinstance(image_input, int) and not isinstance(image_input, bool) \
            and 0 <= image_input < len(names):
        image = image_input
    else:
        raise ValueError(f"image_input must be an input's name or index; {model.name!r} takes "
                         f"{found}; got {image_input!r}")
    if len(tensors[image].shape) != 4:
        raise ValueError(f"image_input {names[image]!r} has shape {tuple(tensors[image].shape)}; "
                         "cams explains an image input (N, H, W, C)")
    if len(graph.outputs) != 1:
        raise ValueError(f"{model.name!r} has {len(graph.outputs)} outputs; choose one with "
                         "output=")
    return Inputs(names, tuple(tuple(t.shape) for t in tensors),
                  tuple(str(t.dtype) for t in tensors), image)


def flat_model(model, end_before=None):
    """An equivalent Functional model with every nested layer inlined, sharing the weights.

    With end_before=<a leaf layer>, the model ends at that layer's input instead (the logits
    behind a standalone softmax layer, say).
    """
    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=t.name)
              for t in _functional(model).inputs]
    taps = {}

    def call(path, layer, args, kwargs):
        if layer is end_before:
            taps["input"] = args[0]
        return call_inference(path, layer, args, kwargs)

    outputs = walk(model, inputs, call)
    suffix = "_flat" if end_before is None else f"_flat_to_{end_before.name}"
    try:
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], taps["input"] if end_before is not None else outputs,
                           name=model.name + suffix)
    except ValueError as err:
        raise ValueError(f"cannot flatten {model.name!r} into one model: {err}") from err


def output_names(model):
    """The name of the layer behind each of the model's outputs, in order."""
    return [t._keras_history.operation.name for t in _functional(model).outputs]


def output_view(model, output=None):
    """`model` itself when it has one output; else a model sharing its layers that ends at the
    output named (or indexed) by `output`. ValueError naming the outputs otherwise."""
    from cams import subclassed

    if subclassed.is_subclassed(model):
        if output in (None, 0):
            return model
        raise ValueError(f"{model.name!r} is a subclassed model, explained through its one "
                         f"output; output= {output!r} is not available for it")
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
