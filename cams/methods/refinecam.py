"""RefineCAM (arXiv 2605.14641, pytorch-grad-cam's RefineCAM): a base method's maps at several
layers, each rectified, min-max scaled and resized to the input, multiplied cell by cell and
scaled again. A fine early layer's map is sharp but noisy; the deeper layers' maps keep only
the parts of it that they agree with.

The layers are the explained layer and the ones named by `layers`; by default, the last live
layer of each of the two finer stages before the explained one (a stage: at least 1.5 times
the cells on each side of the finest layer chosen so far). A model whose layers all share one
resolution (a transformer's tokens), or whose sizes are unknown until it runs (an input of
size None), has no such layer, and its map is the base method's at the explained layer,
resized: name the layers there, as on a branching model (an Inception module's last branch
convolution comes after its block's output). Scaling follows pytorch-grad-cam: each map
(m - min) / (1e-7 + max of m - min), resized (bilinear, half-pixel centres), and scaled again.
"""
import numpy as np

from cams.methods import resize
from cams.methods.spec import Maps, Method, Option
from cams.methods.weighting import min_max

FINER_LAYERS = 2   # by default, how many finer stages add a layer
STAGE = 1.5        # a finer stage has at least this many times the cells on each side


def _layers(name, value):
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be None or a list of layer names; got {value!r}")


def _base(name, value):
    from cams.methods import METHODS

    usable = [m for m, spec in METHODS.items() if not spec.at_input and m != "refinecam"]
    if value not in usable:
        raise ValueError(f"{name} must be a method whose map is at a layer, one of "
                         f"{', '.join(usable)}; got {value!r}")


def scaled(cam, size):
    """Each map (N, h, w) rectified, min-max scaled with pytorch-grad-cam's 1e-7 guard, resized
    to size (H, W) and scaled again (resizing moves the extremes) -> float64 (N, H, W)."""
    cam = min_max(np.maximum(np.asarray(cam, np.float64), 0.0))
    return cam if cam.shape[1:] == tuple(size) else min_max(resize.upsample(cam, size))


def refined(maps, size):
    """The product of the maps (a list of (N, h_i, w_i)), each scaled to size, scaled again."""
    product = np.ones((len(maps[0]),) + tuple(size))
    for cam in maps:
        product *= scaled(cam, size)
    return min_max(product)


def _resolution(leaf):
    """(rows, columns) of the layer's map, or None when the model's input size is unknown."""
    cells = (leaf.grid.height, leaf.grid.width) if leaf.grid is not None else leaf.shape[1:3]
    return None if None in tuple(cells) else tuple(cells)


def _finer(cells, than):
    return cells is not None and than is not None and all(
        c >= STAGE * t for c, t in zip(cells, than))


def default_layers(backend):
    """The explained layer and, before it, the last live layer of each of the FINER_LAYERS
    finer stages nearest to it (zero padding skipped: it only adds a border), in the model's
    order."""
    target = backend.target
    before = []
    for leaf in backend.live_layers():
        if leaf.path == target.path:
            break
        before.append(leaf)
    chosen = [target]
    for leaf in reversed(before):
        if len(chosen) > FINER_LAYERS:
            break
        if type(leaf.layer).__name__ == "ZeroPadding2D":  # the map before it, with a border
            continue
        if _finer(_resolution(leaf), _resolution(chosen[0])):
            chosen.insert(0, leaf)
    return chosen


def run(backend, x, classes, layers=None, base="gradcam++"):
    """Maps of RefineCAM: `base` (a method name, with its default options) at each layer."""
    from cams.methods import METHODS

    target = backend.target
    leaves = default_layers(backend) if layers is None else [
        backend.layer(name) for name in layers]
    if target.path not in [leaf.path for leaf in leaves]:
        leaves.append(target)
    spec = METHODS[base]
    first = spec.run(backend, x, classes, **spec.defaults)
    maps = [first.cam]
    for leaf in leaves:
        if leaf.path != target.path:   # every layer explains the first's classes
            maps.append(spec.run(backend.at(leaf), x, first.classes, **spec.defaults).cam)
    return Maps(refined(maps, np.asarray(x).shape[1:3]), first.outputs, first.classes)


METHOD = Method("refinecam", 21, run,
                "product of a method's maps at several layers (a fine one denoised)",
                needs=("other_layers", "gradients", "forward", "class_scores"),
                options={"layers": Option(None, _layers, "the other layers (None: the last of "
                                                         "each of two finer resolutions)"),
                         "base": Option("gradcam++", _base, "the method run at each layer")},
                at_input=True)
