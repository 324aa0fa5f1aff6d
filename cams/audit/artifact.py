"""Is a region an artifact or the object? Told from the data alone, without masks.

A marker, burned-in text, a border, a ruler, a bright blob or a dark patch is the same thing on
every film that carries it: it *replaces* what was there. A lesion is not: it moves, changes
shape and size, and what lies around it is different anatomy on every film. So take each member
image's residual from the other classes' mean image (what this film has there that the others do
not) over the place where the members differ from the others (the extent of their mean
residual), and ask how alike the members' residuals are: over all pairs of members, their best
Pearson correlation within a shift of ALIGN of the image (burned-in markers are placed a few
pixels apart; a 1-pixel shift turns a strip of 1-pixel stripes into its negative), and of those,
the lower quartile: copies match in most pairs. The planted marker each shortcut model's
decision rests on reads 0.59-0.99 on the benchmark's choice set; lesions, elsewhere in each
film, -0.13 to 0.11 on the regions that clean models' decisions rest on. The mean over pairs,
used first, read up to 0.455 on a coarse clean model's lesions that lay alike on some films, and
accused it. docs/audit-benchmark.md has the ablation against the other candidates.
"""
import numpy as np
from scipy import ndimage

from cams.audit.interventions import spread

ALIGN = 0.015       # copies are compared up to this share of the image's side apart
MAX_MEMBERS = 64    # pairs are taken among at most this many members, evenly spread
QUANTILE = 0.25     # of the pairs' correlations: 3 in 4 pairs match at least this well


def _gray_mean(images, idx, box):
    """The mean over images[idx] of the box [x0, y0, x1, y1), channels averaged: float64
    (y1 - y0, x1 - x0); taken 64 images at a time."""
    x0, y0, x1, y1 = box
    total = np.zeros((y1 - y0, x1 - x0))
    idx = np.asarray(idx, int)
    for part in np.array_split(idx, max(1, len(idx) // 64)):
        total += np.asarray(images[part, y0:y1, x0:x1], np.float64).mean(axis=-1).sum(axis=0)
    return total / max(len(idx), 1)


def extent(images, members, others, box, level=0.4):
    """Where the members differ from the others inside `box`: the bounding box [x0, y0, x1, y1)
    (pixels of the image) of the pixels whose mean residual (the members' mean less the
    others' mean) reaches `level` of its largest magnitude. The box itself when the residual is
    flat. For an artifact this is where the copied pattern lies."""
    x0, y0, x1, y1 = box
    strength = np.abs(_gray_mean(images, members, box) - _gray_mean(images, others, box))
    if strength.max() <= 0:
        return list(box)
    ys, xs = np.nonzero(strength >= level * strength.max())
    return [int(x0 + xs.min()), int(y0 + ys.min()), int(x0 + xs.max()) + 1,
            int(y0 + ys.max()) + 1]


def whole_extent(images, members, others, box, level=0.4):
    """The whole of the pattern whose part lies inside `box`: extent's pixels, followed out of
    the box (up to the box's own width and height beyond each side) through the pixels whose
    mean residual reaches `level` of its largest magnitude inside the box, connected to them.
    A map's box, drawn on a coarse layer's cells, can hold part of a marker only; the region
    reported is then the marker's. [x0, y0, x1, y1) pixels; the box itself when the residual is
    flat inside it."""
    H, W = images.shape[1:3]
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    around = [max(0, x0 - w), max(0, y0 - h), min(W, x1 + w), min(H, y1 + h)]
    strength = np.abs(_gray_mean(images, members, around) - _gray_mean(images, others, around))
    inside = np.zeros(strength.shape, bool)
    inside[y0 - around[1]:y1 - around[1], x0 - around[0]:x1 - around[0]] = True
    top = strength[inside].max()
    if top <= 0:
        return list(box)
    strong = strength >= level * top
    parts, _ = ndimage.label(strong, structure=np.ones((3, 3)))
    keep = np.isin(parts, np.unique(parts[strong & inside]))
    ys, xs = np.nonzero(keep)
    return [int(around[0] + xs.min()), int(around[1] + ys.min()), int(around[0] + xs.max()) + 1,
            int(around[1] + ys.max()) + 1]


def aligned_correlations(images, members, others, box, shift):
    """(n, n): for each pair of members, the largest Pearson correlation of their residuals
    from the others' mean over `box`, one of them moved by up to `shift` pixels each way
    (symmetric; the diagonal is 1 where a residual is not flat)."""
    H, W = images.shape[1:3]
    x0, y0, x1, y1 = box
    X0, Y0, X1, Y1 = max(0, x0 - shift), max(0, y0 - shift), min(W, x1 + shift), min(H, y1 + shift)
    padded = [X0, Y0, X1, Y1]
    background = _gray_mean(images, others, padded)
    r = np.stack([_gray_mean(images, [i], padded) for i in members]) - background
    oy, ox, h, w = y0 - Y0, x0 - X0, y1 - y0, x1 - x0

    def window(dy, dx):
        v = r[:, oy + dy:oy + dy + h, ox + dx:ox + dx + w].reshape(len(r), -1)
        v = v - v.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.where(norm > 0, norm, 1)

    base = window(0, 0)
    best = base @ base.T
    for dy in range(-min(shift, oy), min(shift, r.shape[1] - oy - h) + 1):
        for dx in range(-min(shift, ox), min(shift, r.shape[2] - ox - w) + 1):
            np.maximum(best, base @ window(dy, dx).T, out=best)
    return np.maximum(best, best.T)


def _at_least(inner, box, size, share=0.25):
    """`inner` [x0, y0, x1, y1) grown evenly to at least `share` of `box` on each side, clipped
    to the image of (H, W)."""
    H, W = size
    x0, y0, x1, y1 = inner
    need_w = int(np.ceil(share * (box[2] - box[0]))) - (x1 - x0)
    need_h = int(np.ceil(share * (box[3] - box[1]))) - (y1 - y0)
    if need_w > 0:
        x0, x1 = x0 - need_w // 2, x1 + need_w - need_w // 2
    if need_h > 0:
        y0, y1 = y0 - need_h // 2, y1 + need_h - need_h // 2
    return [max(0, x0), max(0, y0), min(W, x1), min(H, y1)]


def pair_correlations(images, members, others, box):
    """The members' aligned_correlations, one per pair (the diagonal left out), over the extent
    of their difference from the others inside `box`, padded by the alignment shift and at least
    a quarter of the box each way; at most MAX_MEMBERS members, evenly spread. None with fewer
    than two members or no other image."""
    if len(members) < 2 or len(others) < 1:
        return None
    H, W = images.shape[1:3]
    shift = max(1, int(round(ALIGN * max(H, W))))
    members = spread(members, MAX_MEMBERS)
    x0, y0, x1, y1 = extent(images, members, others, box)
    # at least a quarter of the box each way: the best of many shifts of a few pixels would
    # correlate by chance
    where = _at_least([x0 - shift, y0 - shift, x1 + shift, y1 + shift], box, (H, W))
    c = aligned_correlations(images, members, others, where, shift)
    return c[~np.eye(len(c), dtype=bool)]


def stereotypy(pairs):
    """How far the members' content is one pattern copied onto each film: the lower quartile
    of pair_correlations. About 0 to 0.1 for content that differs from film to film (an
    object), towards 1 for copies of one pattern (an artifact). A quartile, not the mean:
    copies match in most pairs, while lesions that happen to lie alike on some films match in
    some pairs only. None for None."""
    return None if pairs is None else float(np.quantile(pairs, QUANTILE))


def resemblance(pairs):
    """The mean of pair_correlations: high when many pairs match, as when a pattern is copied
    onto only part of the films, but also when some lesions lie alike. None for None."""
    return None if pairs is None else float(pairs.mean())
