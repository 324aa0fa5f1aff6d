"""ROAD, Remove And Debias (Rong et al. 2022): remove a share of pixels by the map's ranking and
fill them by noisy linear imputation, so the filled image leaks no hint of where pixels were
removed; then read the class probability.

MoRF removes the most relevant pixels first (a faithful map makes the probability fall fast),
LeRF the least relevant first (it should barely move). The gap LeRF - MoRF, averaged over the
percentages, is high for a faithful map.
"""
import collections
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix, diags
from scipy.sparse.linalg import splu

from cams.metrics.confidence import class_probability_of_blocks
from cams.metrics.perturbation import ranking

# The imputation's neighbours and weights: edge neighbours 1/6, corner neighbours 1/12.
_NEIGHBOURS = [((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
               ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12)]


def impute(image, removed, noise=0.01, rng=None):
    """`image` (H, W, C) with the `removed` pixels (H, W bool) filled: each one becomes the
    weighted mean of its neighbours (one sparse linear system), plus Gaussian noise of std
    `noise` times the image's value range."""
    return _noisy(linear_fill(image, removed), image, removed, noise, rng)


def linear_fill(image, removed):
    """`image` (H, W, C) as float64 with the `removed` pixels (H, W bool) set to the solution
    of the imputation's equations, without noise (what impute adds noise to)."""
    image = np.asarray(image, np.float64)
    removed = np.asarray(removed, bool)
    if not removed.any():
        return image.copy()
    if removed.all():
        raise ValueError("ROAD cannot impute an image with every pixel removed")
    H, W, C = image.shape
    order, equations = _grid(H, W)
    unknown = removed.ravel()[order]                     # each pixel, in dissection order
    at = np.flatnonzero(unknown)
    rows = equations[at]                                 # the unknowns' equations
    block = rows[:, at]                  # symmetric: its CSR arrays are its CSC arrays
    system = csc_matrix((block.data, block.indices, block.indptr), shape=block.shape)
    known = image.reshape(-1, C)[order] * ~unknown[:, None]
    rhs = -(rows @ known)                                # the known neighbours' weighted values
    filled = image.copy()
    filled.reshape(-1, C)[order[at]] = _solve(system, rhs)
    return filled


def _noisy(filled, image, removed, noise, rng):
    """`filled` with Gaussian noise (std `noise` times the image's range) added to the removed
    pixels in reading order, drawn from rng (nothing drawn when nothing was removed)."""
    removed = np.asarray(removed, bool)
    if not removed.any():
        return filled
    rng = rng or np.random.default_rng(0)
    image = np.asarray(image, np.float64)
    span = float(image.max() - image.min()) or 1.0
    filled[removed] += rng.normal(0.0, noise * span, size=(int(removed.sum()), filled.shape[-1]))
    return filled


def _solve(system, rhs):
    """system^-1 rhs (M, C), the system's unknowns already in nested-dissection order. The
    system is symmetric and diagonally dominant (every hole borders a known pixel), so its LU
    needs no pivoting and keeps that order. Equal channels (a grey image) are solved once."""
    lu = splu(system, permc_spec="NATURAL", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    if (rhs == rhs[:, :1]).all():
        return np.repeat(lu.solve(rhs[:, :1]), rhs.shape[1], axis=1)
    return lu.solve(rhs)


@functools.lru_cache(maxsize=8)
def _grid(H, W):
    """The imputation's equations over every pixel of an H x W grid, computed once per size:
    (order (H W,), the grid's pixels (flat indices) in dissection order; equations, CSR
    (H W, H W) in that order: the sum of in-image neighbour weights on the diagonal, -weight to
    each neighbour). The rows and columns of any set of pixels are that set's equations with
    every other pixel known, and its dissection order is the grid's restricted to it (a cut
    row or column of the grid still separates the set's pixels on either side)."""
    ys, xs = np.divmod(np.arange(H * W), W)
    order = dissection_order(ys, xs, leaf=1)    # cut down to single pixels: the LU's fastest
    place = np.empty(H * W, np.intp)
    place[order] = np.arange(H * W)
    rows, cols, weights = [], [], []
    for (dy, dx), weight in _NEIGHBOURS:
        inside = (ys + dy >= 0) & (ys + dy < H) & (xs + dx >= 0) & (xs + dx < W)
        me = np.flatnonzero(inside)
        rows.append(place[me])
        cols.append(place[me + dy * W + dx])
        weights.append(np.full(len(me), weight))
    neighbours = coo_matrix((np.concatenate(weights), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                            shape=(H * W, H * W)).tocsr()
    total = np.asarray(neighbours.sum(axis=1)).ravel()
    order.flags.writeable = False
    return order, (diags(total) - neighbours).tocsr()


def dissection_order(ys, xs, leaf=64):
    """An order of the pixels (ys, xs) (indices into them) in which a sparse factorization of
    their 8-neighbour system stays sparse: nested dissection. The pixels' bounding box is cut
    by its middle row or column; each half is ordered the same way, then the cut."""
    parts, stack = [], [np.arange(len(ys))]
    while stack:
        part = stack.pop()
        if len(part) <= leaf:
            parts.append(part)
            continue
        y, x = ys[part], xs[part]
        along = y if np.ptp(y) >= np.ptp(x) else x
        middle = (int(along.min()) + int(along.max())) // 2
        # popped last-in-first-out: the halves are ordered before the cut between them
        parts.append(part[along == middle])
        stack += [part[along < middle], part[along > middle]]
    return np.concatenate(parts[::-1])


def road(model, x, heatmaps, classes, percentages=(10, 30, 50, 70, 90), noise=0.01, seed=0,
         batch_size=32, workers=None):
    """MoRF and LeRF probability curves (N, len(percentages)) and their mean gap (N,).
    The linear systems are solved by `workers` threads (default: one per CPU core), a few images
    ahead of the model, which scores every imputed copy batch_size at a time, across images;
    the noise is drawn in order, image by image."""
    x = np.asarray(x, np.float32)
    n, H, W, _ = x.shape
    rng = np.random.default_rng(seed)
    classes = np.broadcast_to(np.asarray(classes), (n,))
    removals = ((i, removed) for i in range(n)
                for removed in _removals(ranking(heatmaps[i], (H, W)), (H, W), percentages))
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:   # SuperLU releases the GIL
        fills = _ahead(pool, lambda job: linear_fill(x[job[0]], job[1]), removals, 3 * workers)
        blocks = ((_noisy(filled, x[i], removed, noise, rng)[None], classes[i])
                  for (i, removed), filled in fills)
        probs = class_probability_of_blocks(model, blocks, batch_size).reshape(n, 2, -1)
    curves = {"morf": probs[:, 0].astype(np.float64), "lerf": probs[:, 1].astype(np.float64)}
    return {**curves, "gap": (curves["lerf"] - curves["morf"]).mean(axis=1)}


def _removals(order, shape, percentages):
    """The removed pixels (H, W bool) of one image's MoRF copies (the first pct % of `order`,
    for each percentage), then of its LeRF copies (the last pct %)."""
    H, W = shape
    for ranked in (order, order[::-1]):
        for pct in percentages:
            removed = np.zeros(H * W, bool)
            removed[ranked[:int(round(H * W * pct / 100))]] = True
            yield removed.reshape(H, W)


def _ahead(pool, fn, jobs, depth):
    """(job, fn(job)) for each of `jobs`, in order, computed by `pool` at most `depth` jobs ahead
    of the one the caller is reading."""
    waiting = collections.deque()
    for job in jobs:
        waiting.append((job, pool.submit(fn, job)))
        if len(waiting) > depth:
            job, result = waiting.popleft()
            yield job, result.result()
    while waiting:
        job, result = waiting.popleft()
        yield job, result.result()
