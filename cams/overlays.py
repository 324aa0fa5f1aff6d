"""Heatmap colouring and blending over the original image."""
import cv2
import matplotlib
import numpy as np


def to_rgb_uint8(image):
    """Any (H, W), (H, W, 1|3|4) image, uint8/uint16/float, as uint8 RGB (H, W, 3)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"image must be (H, W) or (H, W, 1|3|4); got shape {img.shape}")
    if img.dtype == np.uint16:
        img = img / 257.0
    elif img.dtype != np.uint8:
        img = img.astype(np.float64)
        if not np.isfinite(img).all():
            raise ValueError("image contains NaN or infinite values")
        if img.max(initial=0) <= 1.0 and img.min(initial=0) >= 0.0:
            img = img * 255.0
    img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def colorize(heatmap, colormap="jet", size=None):
    """A heatmap (h, w) in [0, 1] as uint8 RGB, resized (bilinear) to size=(H, W) if given."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (h, w); got shape {heat.shape}")
    if size is not None and heat.shape != tuple(size):
        heat = cv2.resize(heat, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r}; use a matplotlib name such as "
                         "jet, turbo, viridis, inferno, magma, plasma, gray") from None
    rgba = cmap(np.clip(np.nan_to_num(heat), 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """The heatmap coloured and blended over `image`: uint8 RGB at the image's own size."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    base = to_rgb_uint8(image)
    colored = colorize(heatmap, colormap, size=base.shape[:2])
    blend = (1.0 - alpha) * base + alpha * colored
    return blend.round().astype(np.uint8)
