"""Walk a Keras model layer by layer, nested models included, and name layers by path.

A transfer-learning model holds its base (VGG16, MobileNetV2, ...) as one layer. Keras only
exposes the outer graph, so `model.get_layer("block5_conv3")` fails and a sub-model asking for
an inner layer's output is "graph disconnected". Here every leaf layer gets a path such as
"vgg16/block5_conv3", and `walk` runs the whole model leaf by leaf so that any path can be tapped.

A transformer's blocks are often called inside one layer (KerasHub's `vit_encoder`), which
`walk` runs as one leaf: `all_leaves` also lists those blocks and their first layer norm, as
"vit_encoder/transformer_block_2/ln_1", and a backend taps them while that layer runs.
"""
import warnings
from dataclasses import dataclass, replace

import keras
from keras import tree

from cams.model import tokens


@dataclass(frozen=True)
class Leaf:
    """One leaf layer of a (possibly nested) model: its path, the layer, its output shape, and
    for a layer of tokens (N, T, D) the tokens.TokenGrid its patches lie on (set by resolve)."""
    path: str
    layer: keras.layers.Layer
    shape: tuple
    grid: tokens.TokenGrid | None = None


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
    from cams.model import subclassed

    return isinstance(layer, keras.Model) and not subclassed.is_subclassed(layer)


def _nodes(graph):
    """The graph's call nodes in execution order (inputs excluded)."""
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def leaves(model, prefix=""):
    """Every leaf layer of `model` in execution order, descending into nested models."""
    from cams.model import subclassed

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


def _children(layer):
    if not isinstance(layer, keras.layers.Layer):
        return []
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _descendants(layer, prefix=""):
    """(relative path, layer) for every layer held under `layer`, depth first."""
    for child in _children(layer):
        yield prefix + child.name, child
        yield from _descendants(child, prefix + child.name + "/")


def _is_attention(layer):
    return (isinstance(layer, keras.layers.MultiHeadAttention)
            or "Attention" in type(layer).__name__)


def _is_block(layer):
    """A transformer block: a layer (not attention itself) that holds an attention layer."""
    return not _is_attention(layer) and any(_is_attention(d) for _, d in _descendants(layer))


def all_leaves(model):
    """`leaves(model)` and, before each leaf that runs a transformer's blocks inside it (or is
    one), those blocks and each block's first layer norm, with the shapes of one call on zeros;
    cached with the model. The same list as `leaves` for a model without tokens (N, T, D)."""
    from cams import cache
    from cams.model import subclassed

    found = leaves(model)
    if subclassed.is_subclassed(model):
        # its leaves are the innermost layers it calls: an attention layer's projections
        # (N, T, heads, d) are 4-D without being maps
        inside = {id(d) for layer in model._flatten_layers(include_self=False, recursive=True)
                  if _is_attention(layer) for _, d in _descendants(layer)}
        return [f for f in found if id(f.layer) not in inside]
    if not any(tokens.is_tokens(f.shape) for f in found):
        return found
    return cache.cached(model, "all leaves", lambda: _with_blocks(model, found))


def _with_blocks(model, found):
    """`found` (the graph's leaves) with the blocks run inside them inserted, and each leaf's
    shape the one a call on zeros really gives (SigLIP's embedding declares 17 tokens for 16)."""
    from cams.model import subclassed

    inputs = _functional(model).inputs
    if any(None in tuple(t.shape)[1:] for t in inputs):
        return found
    named = {id(d): (f.path + "/" + rel, d) for f in found if _children(f.layer)
             for rel, d in _descendants(f.layer)}
    seen = {}  # id(layer) -> output shape of its first call, in the order calls return
    real = {}  # path -> the shape a leaf's output really has (a layer may declare another)

    def record(key):
        def fn(args, out):
            if key not in seen:
                seen[key] = _shape_of(_first_output(out))
            return out
        return fn

    def call(path, layer, args, kwargs):
        out = call_inference(path, layer, args, kwargs)
        real[path] = _shape_of(out)
        return out

    with subclassed.tapping({layer: record(key) for key, (_, layer) in named.items()}):
        walk(model, [keras.ops.zeros((1,) + tuple(t.shape)[1:], t.dtype) for t in inputs], call)
    found = [replace(f, shape=(None,) + real[f.path][1:])
             if real.get(f.path) is not None and f.shape is not None else f for f in found]
    called = [Leaf(named[k][0], named[k][1], (None,) + shape[1:]) for k, shape in seen.items()
              if shape is not None]
    blocks = [c for c in called if tokens.is_tokens(c.shape) and _is_block(c.layer)]
    blocks += [f for f in found if tokens.is_tokens(f.shape) and _is_block(f.layer)]
    chosen = set()
    for block in blocks:
        inner = [c for c in called if c.path.startswith(block.path + "/")]
        if any(c in blocks for c in inner):
            continue  # not innermost: an encoder holding blocks
        chosen.add(block.path)
        norms = [c for c in inner if isinstance(c.layer, keras.layers.LayerNormalization)
                 and c.shape == block.shape]
        if norms:
            chosen.add(norms[0].path)
    result = []
    for leaf in found:
        result += [c for c in called if c.path in chosen and c.path.startswith(leaf.path + "/")]
        result.append(leaf)
    return result


def _shape_of(out):
    return tuple(out.shape) if hasattr(out, "shape") else None


def _first_output(out):
    """A layer's output, or the first of several (DeiT's blocks return (tokens, scores))."""
    return out[0] if isinstance(out, (tuple, list)) and out else out


def _through(fn, out):
    """fn applied to `out`, or to its first element when a layer returns several."""
    if isinstance(out, (tuple, list)) and out:
        return type(out)([fn(out[0]), *out[1:]])
    return fn(out)


def call_tapped(path, layer, args, kwargs, taps, call=call_inference):
    """`call(path, layer, args, kwargs)` with each Leaf in `taps` ({Leaf: fn(output) ->
    output}) passing its output through fn: the leaf at `path` itself, or layers inside it
    (a transformer's blocks), tapped at their first call while it runs."""
    from cams.model import subclassed

    inner = {}
    for leaf, fn in taps.items():
        if leaf.path.startswith(path + "/"):
            done = []
            inner[leaf.layer] = (lambda args, out, fn=fn, done=done:
                                 out if done else (done.append(1) or _through(fn, out)))
    if inner:
        with subclassed.tapping(inner):
            out = call(path, layer, args, kwargs)
    else:
        out = call(path, layer, args, kwargs)
    for leaf, fn in taps.items():
        if leaf.path == path:
            out = fn(out)
    return out


def _image_shape(model, image):
    from cams.model import subclassed

    if subclassed.is_subclassed(model):
        return subclassed.model_inputs(model).image_shape
    shapes = [tuple(t.shape) for t in _functional(model).inputs]
    if image is None:
        image = next((k for k, shape in enumerate(shapes) if len(shape) == 4), 0)
    return shapes[image]


def _usable(model, image=None, token_grid=None):
    """Every usable Leaf in order (computed from model input number `image`, when given),
    each layer of tokens with its grid: `token_grid` when given, else read from the model."""
    from cams.model import subclassed

    computed = None
    if image is not None and not subclassed.is_subclassed(model) \
            and len(_functional(model).inputs) > 1:
        computed = reads_input(model, image)
    grids = None
    usable = []
    for leaf in all_leaves(model):
        if computed is not None and not any(
                leaf.path == p or leaf.path.startswith(p + "/") for p in computed):
            continue
        if is_spatial(leaf.shape):
            usable.append(leaf)
        elif tokens.is_tokens(leaf.shape):
            if token_grid is not None:
                if leaf.shape[1] == token_grid.tokens:
                    usable.append(replace(leaf, grid=token_grid))
                continue
            if grids is None:
                grids = tokens.read_grids(model, _image_shape(model, image))
            try:
                usable.append(replace(leaf, grid=tokens.grid_for(leaf.shape[1], grids,
                                                                 leaf.path)))
            except ValueError:
                continue  # tokens on no grid: not a map (resolve says why when it is asked for)
    return usable


def _dead(model, usable, image):
    token_leaves = [leaf for leaf in usable if leaf.grid is not None]
    if not token_leaves:
        return frozenset()
    from cams import cache
    from cams.model import reach
    key = ("dead", image, tuple((leaf.path, leaf.grid) for leaf in token_leaves))
    return cache.cached(model, key, lambda: reach.dead_paths(model, token_leaves, image))


def conv_layers(model):
    """Every path usable as a CAM layer, in order, the default last: 4-D outputs (N, h, w, C)
    with h*w > 1, and layers of tokens (N, T, D) whose patches lie on a grid read from the
    model, a transformer's blocks included, except those whose patch tokens get no gradient
    (after the last block, when the head reads the class token)."""
    usable = _usable(model)
    dead = _dead(model, usable, None)
    return [leaf.path for leaf in usable if leaf.path not in dead]


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


def live_layers(model, image=0, token_grid=None):
    """The Leafs usable as CAM layers computed from input number `image`, in order, without
    those whose patch tokens get no gradient: the candidates resolve's default is the last of."""
    return _candidates(model, image, token_grid)[2]


def _candidates(model, image, token_grid):
    """(usable Leafs, the paths of the dead ones, the live Leafs)."""
    usable = _usable(model, image, token_grid)
    dead = _dead(model, usable, image)
    return usable, dead, [leaf for leaf in usable if leaf.path not in dead]


def resolve(model, layer=None, image=0, token_grid=None):
    """The Leaf that `layer` names: a path, a unique bare name, or None for the default (the
    last usable layer computed from model input number `image`, the image input, whose patch
    tokens, for a transformer, get a gradient). A layer of tokens comes with its grid
    (`token_grid`, a tokens.TokenGrid, when given); choosing a layer whose patch tokens get no
    gradient warns and names the default."""
    usable, dead, live = _candidates(model, image, token_grid)
    if layer is None:
        if not live:
            raise ValueError(f"model {model.name!r} has no layer with a spatial 4-D output "
                             "(N, h, w, channels) or tokens (N, T, D) on a patch grid computed "
                             "from its image input; a CAM needs a feature map.")
        return live[-1]
    found = all_leaves(model)
    matches = [leaf for leaf in found if leaf.path == layer]
    if not matches:
        matches = [leaf for leaf in found if leaf.path.split("/")[-1] == layer]
    if len(matches) > 1:
        raise ValueError(f"layer {layer!r} is ambiguous; use one of the full paths: "
                         + ", ".join(leaf.path for leaf in matches))
    if not matches:
        raise ValueError(f"unknown layer {layer!r}; valid layers are: "
                         + ", ".join(leaf.path for leaf in live))
    leaf = matches[0]
    chosen = next((u for u in usable if u.path == leaf.path), None)
    if chosen is None:
        _refuse(model, leaf, usable, image, token_grid)
    if chosen.path in dead:
        works = f"; {live[-1].path!r} is the last layer that works" if live else ""
        warnings.warn(f"layer {chosen.path!r}: its patch tokens get no gradient (the head reads "
                      "only the leading class/register tokens after it), so every gradient "
                      f"map there is zero{works}", stacklevel=3)
    return chosen


def _refuse(model, leaf, usable, image, token_grid):
    """Raise the ValueError that says why `leaf` is no usable layer."""
    valid = ", ".join(x.path for x in usable)
    if tokens.is_tokens(leaf.shape):
        if token_grid is not None:
            tokens.check_token_grid(token_grid, leaf.shape, leaf.path)  # raises: wrong count
        else:
            tokens.grid_for(leaf.shape[1], tokens.read_grids(model, _image_shape(model, image)),
                            leaf.path)  # raises: no grid
        why = "is not computed from the image input"
    elif is_spatial(leaf.shape):
        why = "is not computed from the image input"
    else:
        why = (f"has output shape {leaf.shape}, not a spatial 4-D feature map (N, h, w, "
               "channels) larger than 1x1 nor tokens (N, T, D)")
    raise ValueError(f"layer {leaf.path!r} {why}; valid layers are: {valid}")


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
    from cams.model import subclassed

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
    from cams.model import subclassed

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
