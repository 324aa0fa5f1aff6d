"""Is a region an artifact or the object? Told from the data alone, without masks.

A marker, burned-in text, a border, a ruler, a bright blob or a dark patch is the same thing on
every film that carries it: it *replaces* what was there. A lesion is not: it moves, changes
shape and size, and what lies around it is different anatomy on every film. So, inside the
region, take each member image's residual from the other classes' mean image (what this image
has there that the others do not), and ask how alike the members' residuals are: the mean
Pearson correlation over all pairs of members. Copies of one artifact correlate (0.25-0.86 on
the benchmark's planted markers); lesions, at another place in each image, do not (0.00-0.06 on
the regions that clean models' decisions rest on). docs/audit-benchmark.md has the ablation
against the other candidates (variance and MAD ratios, the contrast of the class means, whether
the region lies on the body).
"""
import numpy as np


def residuals(images, members, others, box):
    """The members' residuals inside box [x0, y0, x1, y1) (pixels) from the others' mean image
    there, each centred and scaled to unit length: float64 (len(members), box pixels).
    images: uint8 (N, H, W, C); members, others: indices into them."""
    x0, y0, x1, y1 = box
    def crop(idx):   # channels averaged: a grayscale film in RGB is one channel three times
        return np.asarray(images[idx, y0:y1, x0:x1], np.float64).mean(axis=-1)
    background = np.zeros((y1 - y0, x1 - x0))
    for part in np.array_split(np.asarray(others, int), max(1, len(others) // 64)):
        background += crop(part).sum(axis=0)
    background /= max(len(others), 1)
    r = (crop(np.asarray(members, int)) - background).reshape(len(members), -1)
    r -= r.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(r, axis=1, keepdims=True)
    return r / np.where(norm > 0, norm, 1)


def stereotypy(images, members, others, box):
    """The mean correlation, over all pairs of members, of their residuals inside `box` (see
    residuals): about 0 when what the members have there differs from image to image (an
    object), towards 1 when it is one pattern copied onto each (an artifact). None with fewer
    than two members or no other image.

    Computed without forming the pairs: the sum of all pairwise products of unit vectors is
    |sum|^2 minus the n self-products."""
    if len(members) < 2 or len(others) < 1:
        return None
    r = residuals(images, members, others, box)
    n = len(r)
    total = r.sum(axis=0)
    self_products = float((r * r).sum())   # n, less any all-flat residual (norm 0)
    return float((total @ total - self_products) / (n * (n - 1)))


def extent(images, members, others, box, level=0.4):
    """Where the copied pattern lies inside `box`: the bounding box [x0, y0, x1, y1) (pixels of
    the image) of the pixels whose mean residual (the members' mean less the others' mean)
    reaches `level` of its largest magnitude. The box itself when the residual is flat."""
    x0, y0, x1, y1 = box
    def mean(idx):
        total = np.zeros((y1 - y0, x1 - x0))
        for part in np.array_split(np.asarray(idx, int), max(1, len(idx) // 64)):
            total += np.asarray(images[part, y0:y1, x0:x1], np.float64).mean(axis=-1).sum(0)
        return total / max(len(idx), 1)
    strength = np.abs(mean(members) - mean(others))
    if strength.max() <= 0:
        return list(box)
    ys, xs = np.nonzero(strength >= level * strength.max())
    return [int(x0 + xs.min()), int(y0 + ys.min()), int(x0 + xs.max()) + 1,
            int(y0 + ys.max()) + 1]
