"""Heatmap colouring and blending over the original image, in uint8: the heatmap is quantized to
one of 256 colours of a table made once per colormap, and blended with one weighted sum, so an
overlay costs about 10 bytes per output pixel at its peak (float64 colouring cost about 90).

`overlay` returns the image's own size by default, as a library caller expects; `max_side`
shrinks the image first (what an app showing a 40-megapixel upload on a screen wants).
"""
import functools

import cv2
import matplotlib
import numpy as np

LEVELS = 256  # colours per colormap: matplotlib's own resolution for its usual maps


def to_rgb_uint8(image):
    """Any (H, W), (H, W, 1|3|4) image, uint8/uint16/float, as uint8 RGB (H, W, 3)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ValueError(f"image must be (H, W) or (H, W, 1|3|4); got shape {img.shape}")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)  # 65535 -> 255, as img / 257 truncated
    elif img.dtype != np.uint8:
        img = img.astype(np.float64)
        if not np.isfinite(img).all():
            raise ValueError("image contains NaN or infinite values")
        if img.max(initial=0) <= 1.0 and img.min(initial=0) >= 0.0:
            img = img * 255.0
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


@functools.lru_cache(maxsize=None)
def _table(colormap):
    """uint8 (LEVELS, 3): the colormap's colour at the centre of each of LEVELS bins."""
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r}; use a matplotlib name such as "
                         "jet, turbo, viridis, inferno, magma, plasma, gray") from None
    rgba = cmap((np.arange(LEVELS) + 0.5) / LEVELS)
    table = (rgba[:, :3] * 255).round().astype(np.uint8)
    table.setflags(write=False)
    return table


def colorize(heatmap, colormap="jet", size=None):
    """A heatmap (h, w) in [0, 1] as uint8 RGB (h, w, 3), resized (bilinear) to size=(H, W) if
    given. Values fall into LEVELS bins, as matplotlib's colormaps do, so the colours are
    matplotlib's for its 256-colour maps."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (h, w); got shape {heat.shape}")
    table = _table(colormap)
    level = _levels(heat, size)
    # One lookup per channel on a uint8 copy (indexing table[level] would make int64 indices).
    return cv2.LUT(np.repeat(level[..., None], 3, axis=-1), table[None])


def _levels(heat, size):
    """uint8 (H, W): floor(heat * LEVELS) at `size`, 1.0 in the top bin and NaN in the bottom
    one; one float32 array is made (4 bytes per pixel) and dropped on return."""
    if size is not None and heat.shape != tuple(size):
        level = cv2.resize(heat, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        level *= LEVELS
    else:
        level = heat * LEVELS
    np.fmax(level, 0, out=level)  # NaN and negatives to 0
    np.minimum(level, LEVELS - 1, out=level)
    return level.astype(np.uint8)


def shrink(image, max_side):
    """`image` (an array, any dtype cv2 or to_rgb_uint8 reads) resized (area) so that its long
    side is at most `max_side`; the image itself when it already is, or when max_side is None."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if max_side is None or max(img.shape[:2]) <= max_side:
        return img
    if int(max_side) < 1:
        raise ValueError(f"max_side must be a positive number of pixels; got {max_side}")
    if img.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        img = img.astype(np.float32)
    scale = max_side / max(img.shape[:2])
    size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def overlay(image, heatmap, alpha=0.4, colormap="jet", max_side=None):
    """The heatmap coloured and blended over `image`: uint8 RGB (H, W, 3) at the image's own
    size, or, with max_side, at the image's size shrunk so its long side is at most max_side.

    (1 - alpha) * image + alpha * colours, rounded; all in uint8 (see the module notes)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    base = to_rgb_uint8(shrink(image, max_side))
    colored = colorize(heatmap, colormap, size=base.shape[:2])
    return cv2.addWeighted(base, 1.0 - float(alpha), colored, float(alpha), 0.0)
