"""Bilinear upsampling of maps as two small matrices: rows and columns resized separately."""
import numpy as np


def matrix(n_in, n_out, align_corners=False):
    """The (n_out, n_in) linear-interpolation matrix.

    align_corners=False places sample centres at (i + 0.5) cells (OpenCV, tf.image.resize, the
    geometry of a conv feature map); True maps the first and last samples onto the ends
    (scipy.ndimage.zoom with order=1, what tf-keras-vis uses).
    """
    out = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = out * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    else:
        src = (out + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    low = np.floor(src).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = src - low
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), low), 1 - frac)
    np.add.at(m, (np.arange(n_out), high), frac)
    return m


def upsample(maps, size, align_corners=False):
    """Maps (N, h, w), or one map (h, w), resized bilinearly to size=(H, W): float64 (N, H, W)
    or (H, W)."""
    maps = np.asarray(maps, np.float64)
    if maps.ndim == 2:
        return upsample(maps[None], size, align_corners)[0]
    rows = matrix(maps.shape[1], size[0], align_corners)
    cols = matrix(maps.shape[2], size[1], align_corners)
    # Two matrix products: columns, then rows. (np.einsum on the three operands at once loops
    # over every (H, h, w, W): seconds for one 224 x 224 map.)
    return rows @ (maps @ cols.T)
