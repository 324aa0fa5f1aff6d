"""cams.explain: one call for every CAM method, dispatched to a cached backend."""
from dataclasses import dataclass

import numpy as np

from cams import backends, cache, inputs, methods
from cams.model import keras2, layers, scores, tokens as token_grids
from cams.methods import ALL_METHODS as METHODS, weighting
from cams.model.scores import SCORES


@dataclass(frozen=True)
class Explanation:
    """What explain returns; heatmaps are at the target layer's spatial size, or at the input's
    for the guided methods. With several classes per image (class_index "all" or one list per
    image) every array gains an axis L after N."""
    heatmaps: np.ndarray     # float32 (N, h, w) in [0, 1], or (N, L, h, w)
    class_index: np.ndarray  # int (N,), the explained class of each image, or (N, L)
    layer: str               # resolved layer path, e.g. "vgg16/block5_conv3"
    outputs: np.ndarray      # the model's outputs (N, C) as the model returns them
    method: str
    backend: str
    score: str
    options: dict            # the method's options, defaults included
    attributions: np.ndarray | None = None  # guided methods: signed (N, H, W, C) per pixel
    head: str = "multiclass"  # what the outputs are: scores.KINDS (multilabel: each label's
                              # probability is its own sigmoid; predicted = most probable label)
    probabilities: np.ndarray | None = None  # (N, n_classes) every class's probability; a
                                             # regression head's output as it is


@dataclass(frozen=True)
class ModelInfo:
    """What cams reads off a model: its image input's shape, all its inputs, its head."""
    input_shape: tuple     # (None, H, W, C) of the image input
    head: scores.Head      # head.n_classes, head.activation, head.binary, ...
    inputs: layers.Inputs  # every input; inputs.image is the image's index


def describe(model, image_input=None):
    """The ModelInfo of `model`, cached with it; ValueError for a model cams cannot explain.
    image_input: which input is the image, for a model with several (default: the only 4-D)."""
    def read():
        spec = layers.model_inputs(model, image_input)
        return ModelInfo(spec.image_shape, scores.head_of(model, layers.leaves(model)[-1]), spec)
    return cache.cached(model, ("describe", image_input), read)


# How many layers before a blank one are tried for maps that are not blank
MAX_FALLBACK = 4


def blank(cam):
    """Whether every map of a batch (..., h, w) is blank: no positive value, or one value
    everywhere, so that nothing in it can be shown."""
    cam = np.asarray(cam, np.float64)
    flat = cam.reshape(-1, cam.shape[-2] * cam.shape[-1])
    finite = np.where(np.isfinite(flat), flat, 0.0)
    return bool(((finite.max(axis=1) <= 0) | (np.ptp(finite, axis=1) == 0)).all())


def _engine(model, target, info, backend, score):
    """The backend that explains `target`, built once per model, layer, score and input."""
    return backends.engine(model, target, info, backend, score)


def _padded(a, size):
    """a (n, ...) with its last row repeated up to `size` rows: a padded batch has the shape
    of a full one, so that a backend compiled per shape (JAX) compiles once, and its maps
    are the last image's, so they cannot make a batch look blank or alive."""
    a = np.asarray(a)
    if len(a) == size:
        return a
    return np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)])


def _trimmed(maps, n):
    """The first n images' Maps of a padded batch."""
    return methods.Maps(maps.cam[:n], maps.outputs[:n], maps.classes[:n],
                        None if maps.attributions is None else maps.attributions[:n])


def _in_batches(explain_first, explain_next, x, classes, extras, batch_size, pad):
    """(target, Maps) of all of x, explained batch_size images at a time, the last batch
    padded to the same size when `pad` (a backend compiled per batch shape).
    explain_first(x, classes, extras) -> (target, Maps) explains the first batch and may move
    the target (from a blank default layer); explain_next(target, x, classes, extras) -> Maps
    explains the others where the first was explained."""
    n, parts, target = len(x), [], None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        size = batch_size if pad else stop - start
        batch = (_padded(x[start:stop], size), _padded(classes[start:stop], size),
                 tuple(_padded(e[start:stop], size) for e in extras))
        if target is None:
            target, maps = explain_first(*batch)
        else:
            maps = explain_next(target, *batch)
        parts.append(_trimmed(maps, stop - start))
    return target, (parts[0] if len(parts) == 1 else backends.backend.concatenate(parts))


# test-time augmentation (pytorch-grad-cam's aug_smooth, with ttach's transforms): the image
# as it is and mirrored left to right, each times 0.9, 1 and 1.1
AUGMENTATIONS = tuple((mirrored, factor) for mirrored in (False, True)
                      for factor in (0.9, 1.0, 1.1))


def _augmented(maps, x, explain_at):
    """Maps averaged over AUGMENTATIONS: each augmented image's map (explain_at(images) ->
    Maps, for the same classes at the same layer) mirrored back and min-max scaled, as
    pytorch-grad-cam averages them; the attributions mirrored back and averaged."""
    cams_, attributions = [], []
    for mirrored, factor in AUGMENTATIONS:
        if not mirrored and factor == 1.0:
            found = maps
        else:
            found = explain_at(np.ascontiguousarray((x[:, :, ::-1] if mirrored else x) * factor,
                                                    dtype=np.float32))
        back = (lambda a: a[..., ::-1]) if mirrored else (lambda a: a)
        cams_.append(weighting.min_max(back(found.cam)))
        if found.attributions is not None:   # (N, [L,] H, W, C): mirror W
            attributions.append(np.flip(found.attributions, axis=-2) if mirrored
                                else found.attributions)
    return methods.Maps(np.mean(cams_, axis=0), maps.outputs, maps.classes,
                        np.mean(attributions, axis=0) if attributions else None)


def _alive_instead(model, target, default, info, grid, backend, score, call, maps):
    """(target, maps) at the last of the MAX_FALLBACK live layers before `target` whose maps are
    not blank, in place of the default layer's blank maps (a transformer's last layer norm can
    give a negative cam everywhere); a layer the caller named is kept, with a warning naming
    such a layer, looked for once per model, layer, method, backend and score (a dataset run
    of blank batches pays for the search once). Unchanged, with a warning, when none of them
    is alive either."""
    import warnings

    def search():
        before = []
        for leaf in layers.live_layers(model, info.inputs.image, grid):
            if leaf.path == target.path:
                break
            before.append(leaf)
        for leaf in reversed(before[-MAX_FALLBACK:]):
            found = _engine(model, leaf, info, backend, score).cam(*call)
            if not blank(found.cam):
                return leaf, found
        return None, min(len(before), MAX_FALLBACK)

    if default:
        leaf, found = search()
    else:
        def named():   # only which layer is alive is kept, not its maps
            leaf, found = search()
            return leaf, found if leaf is None else None
        leaf, found = cache.cached(model, ("alive instead of", target.path, call[2], backend,
                                           score, info.inputs.image), named)
    if leaf is None:
        warnings.warn(f"layer {target.path!r} gives blank maps for these images, and so do the "
                      f"{found} layers before it", stacklevel=3)
        return target, maps
    if default:
        warnings.warn(f"the default layer {target.path!r} gives blank maps for these "
                      f"images; explained at {leaf.path!r}, the last layer before it whose "
                      "maps are not blank", stacklevel=3)
        return leaf, found
    warnings.warn(f"layer {target.path!r} gives blank maps for these images; "
                  f"{leaf.path!r} gives maps that are not", stacklevel=3)
    return target, maps


def explain(model, images, layer=None, class_index=None, method="gradcam", backend=None,
            score=None, output=None, image_input=None, tokens=None, batch_size=None,
            **options):
    """Explain `model`'s decisions on a batch of preprocessed images.

    A transformer's layers output tokens (N, T, D): the leading class, distillation or
    register tokens are dropped and the patches laid on the grid read from the model (image
    size over patch size, a Swin stage's resolution). The default layer of a transformer whose
    head reads the class token is the last one whose patch tokens get a gradient. When the
    default layer's maps are blank for these images (no positive value anywhere), the last of
    the few layers before it whose maps are not is explained instead, with a warning.

    Args:
        model (keras.Model): a Keras 3 model, or a tf_keras one (explained through its
            Keras 3 twin). It is never changed.
        images (numpy.ndarray | dict | list): float array (N, H, W, C), preprocessed as the
            model expects. A model with several inputs (an image and clinical data) takes a
            dict {input name: array} or a list in its input order; the maps are drawn on the
            image input.
        layer (str | None): a path such as "vgg16/block5_conv3", a unique bare layer name,
            or None for the last spatial layer whose maps are alive.
        class_index (None | int | list | str): None (each image's predicted class; a
            multi-label head's most probable label; ties go to the lowest index), an int, one
            int per image, or several classes per image: "all" or one list of ints per image,
            giving maps (N, L, h, w). The gradient methods compute all L maps from one
            forward pass.
        method (str): a name in cams.METHODS, or in cams.TRANSFORMER_METHODS for a
            transformer.
        backend (str | None): one of cams.BACKENDS (those of the Keras backend this process
            runs on); None is the first ("eager" under TensorFlow, "jax", "torch").
        score (str | None): "logit" (the value before the final softmax or sigmoid) or
            "probability"; None is what the method's paper uses (the probability for
            Score-CAM, else the logit).
        output (str | int | None): for a model with several outputs, the name or index of
            the one to explain.
        image_input (str | None): for a model with several 4-D inputs, the image's name.
        tokens (cams.TokenGrid | tuple | None): how a transformer's tokens lie, for a model
            cams cannot read: cams.TokenGrid(prefix, height, width) or those three.
        batch_size (int | None): explain this many images at a time; None explains all of
            `images` at once. Under a backend compiled per batch shape (JAX) the last batch
            is padded to the same size by repeating its last image, so that a run compiles
            once. The layer is chosen on the first batch and kept for the others.
        **options (int | float | bool): the method's own, e.g. top_k=16 for Score-CAM; see
            cams.METHODS[name].options. And aug_smooth=True, for any method: the map averaged
            over the images mirrored left to right and multiplied by 0.9, 1 and 1.1 (six
            passes; pytorch-grad-cam's aug_smooth), each map mirrored back and min-max scaled,
            for the classes and at the layer of the image as it is.

    Returns:
        Explanation: heatmaps (N, h, w) in [0, 1] at the layer's size (the input's for the
            guided methods), the explained classes, the layer, the outputs and every class's
            probability.

    Raises:
        ValueError: a method, backend, score, layer, class or input that cams cannot use,
            in one sentence naming what is accepted.
    """
    model = keras2.as_keras3(model)  # a tf_keras model is explained through its Keras 3 twin
    if output is not None or len(getattr(model, "outputs", None) or ()) > 1:
        model = cache.cached(model, ("output", output), lambda: layers.output_view(model, output))
    inputs.check_choice("method", method, METHODS)
    backend = backends.check(backends.DEFAULT if backend is None else backend)
    score = METHODS[method].score if score is None else score
    inputs.check_choice("score", score, SCORES)
    aug_smooth = options.pop("aug_smooth", False)
    if not isinstance(aug_smooth, (bool, np.bool_)):
        raise TypeError(f"aug_smooth must be True or False; got {aug_smooth!r}")
    options = METHODS[method].check_options(options)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(f"layer must be a layer path string or None; got {type(layer).__name__}")
    info = describe(model, image_input)
    x, extras = inputs.check_inputs(images, info.inputs)
    grid = None if tokens is None else token_grids.as_token_grid(tokens)
    target = cache.cached(model, ("layer", layer, info.inputs.image, grid),
                          lambda: layers.resolve(model, layer, info.inputs.image, grid))
    classes = inputs.check_classes(class_index, len(x), info.head.n_classes)
    batch_size = inputs.check_batch_size(batch_size, len(x))

    def explain_first(xs, cs, es):
        maps = _engine(model, target, info, backend, score).cam(xs, cs, method, options, es)
        if blank(maps.cam) and not METHODS[method].at_input:
            return _alive_instead(model, target, layer is None, info, grid, backend, score,
                                  (xs, cs, method, options, es), maps)
        return target, maps

    def explain_next(at, xs, cs, es):
        return _engine(model, at, info, backend, score).cam(xs, cs, method, options, es)

    pad = _engine(model, target, info, backend, score).fixed_shapes
    explained, maps = _in_batches(explain_first, explain_next, x, classes, extras, batch_size,
                                  pad)
    if aug_smooth:
        maps = _augmented(maps, x, lambda xs: _in_batches(
            lambda a, b, c: (explained, explain_next(explained, a, b, c)), explain_next, xs,
            np.asarray(maps.classes), extras, batch_size, pad)[1])
        options = {**options, "aug_smooth": True}
    attributions = None if maps.attributions is None else maps.attributions.astype(np.float32)
    return Explanation(methods.normalize(maps.cam), np.asarray(maps.classes), explained.path,
                       np.asarray(maps.outputs), method, backend, score, options, attributions,
                       info.head.kind, scores.all_probabilities(maps.outputs, info.head))

