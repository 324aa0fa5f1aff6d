"""Candidate regions: compact places where the evidence of many of a group's images sits.

A lesion moves from image to image; a marker, a label or a border does not. On the downsampled
maps (N, g, g), each image's hottest cells (its top share) are marked; the share of images hot
at each cell is the group's frequency map, and its peak, grown into a compact box, is the
candidate. With a region of interest only the hot cells outside it count.
"""
import numpy as np
from scipy import ndimage

TOP = 0.05         # an image's hot cells: the top 5% of its downsampled map
MAX_AREA = 0.08    # a compact region covers at most 8% of the image


def hot(small, top=TOP):
    """Boolean (N, g, g): each map's `top` share of cells with the most mass (at least one)."""
    n, g, _ = small.shape
    k = max(1, int(round(top * g * g)))
    flat = small.reshape(n, -1)
    kth = -np.partition(-flat, k - 1, axis=1)[:, k - 1:k]
    return (flat >= kth).reshape(small.shape) & (small > 0)


def frequency(hot_cells, outside=None):
    """The share of images hot at each cell: float (g, g). `outside` (N, g, g) bool keeps only
    the cells outside each image's region of interest."""
    cells = hot_cells if outside is None else hot_cells & outside
    return cells.mean(axis=0)


def compact_box(freq, max_area=MAX_AREA):
    """The box [x0, y0, x1, y1) in cells around freq's peak: the connected cells at >= half the
    peak, raised in steps of 10% of the peak until the box covers at most `max_area` of the
    grid. None when freq is all zero."""
    peak = float(freq.max())
    if peak <= 0:
        return None
    py, px = np.unravel_index(np.argmax(freq), freq.shape)
    for level in np.arange(0.5, 1.0, 0.1):
        parts, _ = ndimage.label(freq >= level * peak)
        ys, xs = np.nonzero(parts == parts[py, px])
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        if (box[2] - box[0]) * (box[3] - box[1]) <= max_area * freq.size:
            return box
    return [int(px), int(py), int(px) + 1, int(py) + 1]


def hits(hot_cells, box):
    """Which images (N,) bool have a hot cell inside `box` (cells)."""
    x0, y0, x1, y1 = box
    return hot_cells[:, y0:y1, x0:x1].any(axis=(1, 2))


def grown(box, grid, cells=1):
    """The box [x0, y0, x1, y1) in cells grown by `cells` on every side, inside the grid."""
    x0, y0, x1, y1 = box
    return [max(0, x0 - cells), max(0, y0 - cells), min(grid, x1 + cells), min(grid, y1 + cells)]


def to_pixels(box, grid, size):
    """A box in cells of a (grid, grid) lattice as [x0, y0, x1, y1) in pixels of (H, W)."""
    H, W = size
    x0, y0, x1, y1 = box
    return [int(x0 * W / grid), int(y0 * H / grid), int(np.ceil(x1 * W / grid)),
            int(np.ceil(y1 * H / grid))]


def candidate(small, outside=None, max_area=MAX_AREA):
    """The group's candidate region: {"box": cells, "consistency": share of images hot in it,
    "members": (N,) bool} or None when no cell is hot (outside the region of interest)."""
    h = hot(small)
    if outside is not None:
        h = h & outside
    box = compact_box(frequency(h), max_area)
    if box is None:
        return None
    members = hits(h, box)
    return {"box": box, "consistency": float(members.mean()), "members": members}
