"""The model-parameter randomization check (Adebayo et al. 2018): a map that explains the model
must change when the model's learned weights above the explained layer are re-initialized."""
import keras
import numpy as np
from scipy.stats import spearmanr

from cams import cache, layers


def _initializer(layer, variable, seed):
    name = variable.path.split("/")[-1]
    init = (getattr(layer, f"{name}_initializer", None)
            or getattr(layer, name.replace("_kernel", "") + "_initializer", None)
            or keras.initializers.GlorotUniform())
    config = init.get_config()
    if "seed" in config:
        init = type(init).from_config({**config, "seed": seed})
    return init


def randomized_copy(model, above, seed=0):
    """A copy of `model` whose weighted layers after the layer path `above` are re-initialized
    with their own initializers (the caller's model is untouched); also the re-drawn paths."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    leaves = layers.leaves(copy)
    paths = [leaf.path for leaf in leaves]
    if above not in paths:
        raise ValueError(f"unknown layer {above!r}")
    redrawn = []
    for k, leaf in enumerate(leaves[paths.index(above) + 1:]):
        for j, v in enumerate(leaf.layer.weights):
            v.assign(_initializer(leaf.layer, v, seed + 1000 * k + j)(v.shape, v.dtype))
        if leaf.layer.weights:
            redrawn.append(leaf.path)
    return copy, redrawn


def rank_correlation(a, b):
    """Spearman's rank correlation of two maps; 0 when either is constant (no ranking to share)."""
    a, b = np.ravel(a), np.ravel(b)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def randomization_check(model, x, explain, layer, seed=0, copy=None, original=None):
    """Per image, Spearman's rho between the map of `model` and of its randomized copy (every
    weighted layer after `layer` re-drawn). explain(model, x) -> heatmaps (N, ...). A rho near 1
    means the map ignores what the model learned there: the method fails the check.

    copy: the randomized copy, when several checks share one (randomized_copy(model, layer,
    seed)[0]: the copy depends on the layer and the seed only, and what explain compiles for it
    is then compiled once); None makes one for this check and forgets it after.
    original: the maps of `model` on x when the caller already has them (what explain(model, x)
    returns); None explains them here."""
    own = copy is None
    if original is not None and len(original) != len(x):
        raise ValueError(f"original holds {len(original)} maps for {len(x)} images")
    if own:
        copy, redrawn = randomized_copy(model, layer, seed)
        if not redrawn:
            raise ValueError(f"no weighted layer follows {layer!r}: nothing to randomize")
    try:
        if original is None:
            original = explain(model, x)
        randomized = explain(copy, x)
    finally:
        if own:
            cache.forget(copy)
    return np.array([rank_correlation(a, b) for a, b in zip(original, randomized)])
