"""The CAM methods, by name. Each module here that defines METHOD (a spec.Method: its math, its
options with their checks, the backend primitives it needs) is one method; this registry
gathers them, so adding a method is adding one file.
"""
import importlib
import pkgutil
from types import MappingProxyType

import numpy as np

from cams.methods.spec import Maps, Method  # noqa: F401  (re-exported for backends)


def _discover():
    found = []
    for module in pkgutil.iter_modules(__path__):
        method = getattr(importlib.import_module(f"{__name__}.{module.name}"), "METHOD", None)
        if isinstance(method, Method):
            found.append(method)
    return MappingProxyType({m.name: m for m in sorted(found, key=lambda m: m.order)})


ALL_METHODS = _discover()  # name -> Method, in menu order
# methods for any feature map, convolutional or a transformer's tokens
METHODS = MappingProxyType({n: m for n, m in ALL_METHODS.items() if not m.transformers_only})
# methods for transformers only (attention rollout)
TRANSFORMER_METHODS = MappingProxyType({n: m for n, m in ALL_METHODS.items()
                                        if m.transformers_only})


def normalize(cam):
    """Each map (the last two axes) divided by its maximum, float32 in [0, 1], shape kept
    ((N, h, w) or (N, L, h, w)); an all-zero map stays 0."""
    cam = np.asarray(cam, dtype=np.float64)
    axes = (-2, -1)
    peak = cam.max(axis=axes, keepdims=True)
    safe = np.where(peak > 0, peak, 1.0)
    return np.where(peak > 0, cam / safe, 0.0).astype(np.float32)
