"""The model-parameter randomization test's variants (Adebayo et al. 2018; Quantus' MPRT):
re-draw the layers above the explained one from the top down, cumulatively ("cascading") or
one at a time ("independent"), and compare each map with the model's; and the smooth variant
(Hedström et al. 2023), which averages each map over noisy copies of the image first, so that
the comparison is not drowned in the map's own noise. randomization_check is the last step of
the cascade: every layer above re-drawn at once."""
import numpy as np

from cams import cache
from cams.metrics.randomization import rank_correlation, randomized_copy
from cams.metrics.robustness import value_ranges
from cams.model import layers


def weighted_above(model, layer):
    """The paths of the weighted layers after `layer`, from the top down (what
    randomized_copy re-draws)."""
    leaves = layers.leaves(model)
    paths = [leaf.path for leaf in leaves]
    if layer not in paths:
        raise ValueError(f"unknown layer {layer!r}")
    return [leaf.path for leaf in leaves[paths.index(layer) + 1:] if leaf.layer.weights][::-1]


def _compare(model, x, explain, layer, seed, original, subsets):
    """(paths, rho (len(subsets), N)): each subset of layers re-drawn in its own copy."""
    if original is None:
        original = explain(model, x)
    rhos = []
    for subset in subsets:
        copy, _ = randomized_copy(model, layer, seed, only=set(subset))
        try:
            rhos.append([rank_correlation(a, b) for a, b in zip(original, explain(copy, x))])
        finally:
            cache.forget(copy)
    return np.array(rhos)


def cascading_randomization(model, x, explain, layer, seed=0, original=None):
    """{"layers": the weighted layers above `layer`, top first; "rho" (L, N): Spearman's rho of
    each image's map with the map of a copy whose top l + 1 layers are re-drawn}. A map that
    explains the model falls away from 1 as the cascade goes down; explain(model, x) -> maps."""
    paths = weighted_above(model, layer)
    if not paths:
        raise ValueError(f"no weighted layer follows {layer!r}: nothing to randomize")
    rho = _compare(model, x, explain, layer, seed, original,
                   [paths[:i + 1] for i in range(len(paths))])
    return {"layers": paths, "rho": rho}


def independent_randomization(model, x, explain, layer, seed=0, original=None):
    """{"layers", "rho" (L, N)}: as cascading_randomization, each layer re-drawn alone."""
    paths = weighted_above(model, layer)
    if not paths:
        raise ValueError(f"no weighted layer follows {layer!r}: nothing to randomize")
    return {"layers": paths,
            "rho": _compare(model, x, explain, layer, seed, original, [[p] for p in paths])}


def smooth_randomization_check(model, x, explain, layer, samples=10, noise=0.1, seed=0):
    """Smooth MPRT, (N,): Spearman's rho between the model's and its randomized copy's maps
    (every layer above `layer` re-drawn), each map the mean over `samples` copies of the image
    with Gaussian noise of std `noise` times its value range (the same copies for both)."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    span = value_ranges(x, noise)
    noisy = [x + (rng.normal(size=x.shape) * span).astype(np.float32) for _ in range(samples)]
    copy, redrawn = randomized_copy(model, layer, seed)
    if not redrawn:
        raise ValueError(f"no weighted layer follows {layer!r}: nothing to randomize")
    try:
        mean = [np.mean([np.asarray(explain(m, xs), np.float64) for xs in noisy], axis=0)
                for m in (model, copy)]
    finally:
        cache.forget(copy)
    return np.array([rank_correlation(a, b) for a, b in zip(*mean)])
