"""ROAD, Remove And Debias (Rong et al. 2022): remove a share of pixels by the map's ranking and
fill them by noisy linear imputation, so the filled image leaks no hint of where pixels were
removed; then read the class probability.

MoRF removes the most relevant pixels first (a faithful map makes the probability fall fast),
LeRF the least relevant first (it should barely move). The gap LeRF - MoRF, averaged over the
percentages, is high for a faithful map.
"""
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from cams.metrics.confidence import class_probability
from cams.metrics.perturbation import ranking

# The imputation's neighbours and weights: edge neighbours 1/6, corner neighbours 1/12.
_NEIGHBOURS = [((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
               ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12)]


def impute(image, removed, noise=0.01, rng=None):
    """`image` (H, W, C) with the `removed` pixels (H, W bool) filled: each one becomes the
    weighted mean of its neighbours (one sparse linear system), plus Gaussian noise of std
    `noise` times the image's value range."""
    image = np.asarray(image, np.float64)
    H, W, C = image.shape
    removed = np.asarray(removed, bool)
    if not removed.any():
        return image.copy()
    if removed.all():
        raise ValueError("ROAD cannot impute an image with every pixel removed")
    index = -np.ones((H, W), int)
    ys, xs = np.nonzero(removed)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(ys), C))
    total = np.zeros(len(ys))
    for (dy, dx), weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < H) & (nx >= 0) & (nx < W)
        me, ny, nx = np.nonzero(inside)[0], ny[inside], nx[inside]
        total[me] += weight
        unknown = index[ny, nx] >= 0
        rows.append(me[unknown])
        cols.append(index[ny, nx][unknown])
        vals.append(np.full(unknown.sum(), -weight))
        np.add.at(rhs, me[~unknown], weight * image[ny[~unknown], nx[~unknown]])
    rows.append(np.arange(len(ys)))
    cols.append(np.arange(len(ys)))
    vals.append(total)
    system = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(len(ys), len(ys))).tocsc()
    filled = image.copy()
    filled[ys, xs] = splu(system).solve(rhs)
    rng = rng or np.random.default_rng(0)
    span = float(image.max() - image.min()) or 1.0
    filled[ys, xs] += rng.normal(0.0, noise * span, size=(len(ys), C))
    return filled


def road(model, x, heatmaps, classes, percentages=(10, 30, 50, 70, 90), noise=0.01, seed=0,
         batch_size=64):
    """MoRF and LeRF probability curves (N, len(percentages)) and their mean gap (N,)."""
    x = np.asarray(x, np.float32)
    n, H, W, _ = x.shape
    rng = np.random.default_rng(seed)
    curves = {"morf": np.zeros((n, len(percentages))), "lerf": np.zeros((n, len(percentages)))}
    for i in range(n):
        order = ranking(heatmaps[i], (H, W))
        images = []
        for name in curves:
            ranked = order if name == "morf" else order[::-1]
            for pct in percentages:
                removed = np.zeros(H * W, bool)
                removed[ranked[:int(round(H * W * pct / 100))]] = True
                images.append(impute(x[i], removed.reshape(H, W), noise, rng))
        probs = class_probability(model, np.stack(images), classes[i], batch_size)
        curves["morf"][i], curves["lerf"][i] = np.split(probs, 2)
    return {**curves, "gap": (curves["lerf"] - curves["morf"]).mean(axis=1)}
