"""cams.explain: one Grad-CAM call, dispatched to a cached backend."""
from dataclasses import dataclass

import numpy as np

from cams import cache, inputs, layers, methods, scores
from cams.backends import BACKEND_CLASSES, BACKENDS
from cams.scores import SCORES

METHODS = tuple(methods.METHODS)


@dataclass(frozen=True)
class Explanation:
    """What explain returns; heatmaps are at the target layer's spatial size."""
    heatmaps: np.ndarray     # float32 (N, h, w) in [0, 1]
    class_index: np.ndarray  # int (N,), the explained class of each image
    layer: str               # resolved layer path, e.g. "vgg16/block5_conv3"
    outputs: np.ndarray      # the model's outputs (N, C) as the model returns them
    method: str
    backend: str
    score: str


@dataclass(frozen=True)
class _Model:
    input_shape: tuple
    head: scores.Head


def _describe(model):
    final = layers.leaves(model)[-1]
    return _Model(layers.input_shape(model), scores.head_of(model, final))


def explain(model, images, layer=None, class_index=None, method="gradcam", backend="eager",
            score="logit"):
    """Explain `model`'s decision on a preprocessed batch `images` (N, H, W, C).

    layer: a path such as "vgg16/block5_conv3", a unique bare layer name, or None for the last
    spatial layer. class_index: None (the predicted class), an int, or one int per image.
    score: "logit" (the value before the final softmax/sigmoid) or "probability".
    """
    inputs.check_choice("method", method, METHODS)
    inputs.check_choice("backend", backend, BACKENDS)
    inputs.check_choice("score", score, SCORES)
    if layer is not None and not isinstance(layer, str):
        raise TypeError(f"layer must be a layer path string or None; got {type(layer).__name__}")
    info = cache.cached(model, "describe", lambda: _describe(model))
    x = inputs.check_images(images, info.input_shape)
    target = cache.cached(model, ("layer", layer), lambda: layers.resolve(model, layer))
    classes = inputs.check_classes(class_index, len(x), info.head.n_classes)
    engine = cache.cached(
        model, (backend, target.path, score),
        lambda: BACKEND_CLASSES[backend](model, target, info.head, score))
    cam, outputs, chosen = engine.cam(x, classes, method)
    return Explanation(methods.normalize(cam), np.asarray(chosen), target.path,
                       np.asarray(outputs), method, backend, score)
