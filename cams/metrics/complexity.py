"""How concentrated is a map? Complexity in Quantus' sense: a map that puts its mass on few
pixels is easier to read. Each map is taken at the size it is shown at (upsampled to the
image), as absolute values."""
import numpy as np

from cams.methods.resize import upsample


def _flat(heatmaps, size):
    """|maps| (N, H W) at size=(H, W), float64."""
    maps = np.asarray(heatmaps, np.float64)
    maps = maps[None] if maps.ndim == 2 else maps
    return np.abs(upsample(maps, size)).reshape(len(maps), -1)


def sparseness(heatmaps, size):
    """The Gini index of each map's values (Chalasani et al. 2020), (N,): 0 when every pixel
    holds the same value, towards 1 when one pixel holds it all. Higher is sparser.

    G = sum_i (2i - n - 1) a_(i) / (n sum_i a_i), a sorted ascending, i = 1..n. An all-zero map
    counts as evenly spread (0)."""
    a = np.sort(_flat(heatmaps, size), axis=1)
    n = a.shape[1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    total = a.sum(axis=1)
    return np.divide(a @ weights, n * total, out=np.zeros(len(a)), where=total > 0)


def entropy(heatmaps, size):
    """The Shannon entropy (nats) of each map's values as shares of its total (Bhatt et al.
    2020), (N,): log(H W) for an even map, 0 for one pixel. Lower is simpler. An all-zero map
    counts as evenly spread."""
    a = _flat(heatmaps, size)
    total = a.sum(axis=1, keepdims=True)
    p = np.divide(a, total, out=np.full_like(a, 1.0 / a.shape[1]), where=total > 0)
    return -(p * np.log(p, out=np.zeros_like(p), where=p > 0)).sum(axis=1)
