"""The CAM methods, by name: the math lives in small modules; this registry says what each needs.

A backend offers three primitives (see backends/forward.py):
    gradients(x, classes)        -> A, G = dS/dA, outputs, classes
    forward(x, classes)          -> A, outputs, classes
    guided_gradients(x, classes) -> R = guided dS/dx, outputs, classes
    class_scores(x, classes)     -> (N,) the score of each image for its class
and `run` turns them into a map with the method's math.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cams.methods import eigencam as _eigen
from cams.methods import guided as _guided
from cams.methods import scorecam as _score
from cams.methods import weighted as _weighted


@dataclass(frozen=True)
class Maps:
    """What a method returns before scaling."""
    cam: np.ndarray                   # (N, h, w) at the layer, or (N, H, W) at the input
    outputs: np.ndarray               # the model's outputs (N, C)
    classes: np.ndarray               # the explained class of each image (N,)
    attributions: np.ndarray | None = None  # (N, H, W, C) for the guided methods


@dataclass(frozen=True)
class Method:
    name: str
    run: Callable                     # run(backend, x, classes, **options) -> Maps
    summary: str
    options: dict = field(default_factory=dict)  # option -> default
    score: str = "logit"              # what the paper scores: "logit" or "probability"
    at_input: bool = False            # map at the input's resolution, not the layer's


def _from_gradients(formula):
    def run(backend, x, classes, **options):
        A, G, outputs, chosen = backend.gradients(x, classes)
        return Maps(formula(A, G, **options), outputs, chosen)
    return run


def _run_eigencam(backend, x, classes):
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(_eigen.eigencam(A), outputs, chosen)


def _run_scorecam(backend, x, classes, top_k=None, batch_size=32, upsampling="bilinear"):
    A, outputs, chosen = backend.forward(x, classes)
    cam = _score.scorecam(A, x, chosen, backend.class_scores, top_k, batch_size, upsampling)
    return Maps(cam, outputs, chosen)


def _run_guided_backprop(backend, x, classes):
    R, outputs, chosen = backend.guided_gradients(x, classes)
    return Maps(_guided.saliency(R), outputs, chosen, np.asarray(R, np.float64))


def _run_guided_gradcam(backend, x, classes):
    A, G, outputs, chosen = backend.gradients(x, classes)
    R, _, _ = backend.guided_gradients(x, chosen)
    cam, attributions = _guided.guided_gradcam(R, _weighted.gradcam(A, G))
    return Maps(cam, outputs, chosen, attributions)


_ALL = [
    Method("gradcam", _from_gradients(_weighted.gradcam), "spatial mean of the gradient"),
    Method("gradcam++", _from_gradients(_weighted.gradcam_plus_plus),
           "gradient weighted by second/third-order alphas (eq. 19)", {"normalize_alphas": False}),
    Method("xgradcam", _from_gradients(_weighted.xgradcam), "gradient weighted by activation share"),
    Method("hirescam", _from_gradients(_weighted.hirescam), "gradient times activation, per cell"),
    Method("layercam", _from_gradients(_weighted.layercam), "positive gradient times activation, per cell"),
    Method("guided-grads", _from_gradients(_weighted.guided_grads),
           "gradient averaged where activation and gradient are positive (seed 001)"),
    Method("scorecam", _run_scorecam, "class probability of the image masked by each channel",
           {"top_k": None, "batch_size": 32, "upsampling": "bilinear"}, score="probability"),
    Method("eigencam", _run_eigencam, "first principal component of the activations (no class)"),
    Method("guided-backprop", _run_guided_backprop, "input gradient through positive-only ReLUs",
           at_input=True),
    Method("guided-gradcam", _run_guided_gradcam, "guided backprop times upsampled Grad-CAM",
           at_input=True),
]
METHODS = {m.name: m for m in _ALL}


def check_options(name, options):
    """The method's options with defaults filled in; ValueError for unknown or invalid ones."""
    method = METHODS[name]
    unknown = sorted(set(options) - set(method.options))
    if unknown:
        takes = ", ".join(method.options) or "no options"
        raise ValueError(f"method {name!r} does not take {', '.join(map(repr, unknown))}; "
                         f"it takes: {takes}")
    merged = {**method.options, **options}
    if "normalize_alphas" in merged and not isinstance(merged["normalize_alphas"], bool):
        raise TypeError(f"normalize_alphas must be True or False; got {merged['normalize_alphas']!r}")
    for key, allow_none in (("top_k", True), ("batch_size", False)):
        if key not in merged or (allow_none and merged[key] is None):
            continue
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive int{' or None' if allow_none else ''}; "
                             f"got {value!r}")
    if "upsampling" in merged and merged["upsampling"] not in _score.UPSAMPLING:
        raise ValueError(f"upsampling must be one of {', '.join(_score.UPSAMPLING)}; "
                         f"got {merged['upsampling']!r}")
    return merged


def normalize(cam):
    """Each map divided by its maximum, float32 (N, ...) in [0, 1]; an all-zero map stays 0."""
    cam = np.asarray(cam, dtype=np.float64)
    axes = tuple(range(1, cam.ndim))
    peak = cam.max(axis=axes, keepdims=True)
    safe = np.where(peak > 0, peak, 1.0)
    return np.where(peak > 0, cam / safe, 0.0).astype(np.float32)
