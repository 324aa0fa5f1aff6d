"""The model-parameter randomization check (Adebayo et al. 2018): a map that explains the model
must change when the model's learned weights above the explained layer are re-initialized."""
import keras
import numpy as np
from scipy.stats import spearmanr

from cams import cache
from cams.model import layers


def _initializer(layer, variable):
    """The Keras initializer `layer` declares for `variable` (Glorot uniform when none)."""
    name = variable.path.split("/")[-1]
    return (getattr(layer, f"{name}_initializer", None)
            or getattr(layer, name.replace("_kernel", "") + "_initializer", None)
            or keras.initializers.GlorotUniform())


def _fans(shape):
    """(fan_in, fan_out) of a weight shape, as Keras' variance-scaling initializers count them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def draw(init, shape, rng):
    """Values of the Keras initializer `init` for `shape`, drawn with NumPy's `rng`, so that every
    Keras backend redraws the same weights; None for an initializer not written here (it is
    then drawn by Keras, whose random numbers differ by backend)."""
    config = init.get_config()
    kind = type(init).__name__
    if kind in ("Zeros", "Ones", "Constant", "Identity"):   # no randomness: Keras' own values
        return keras.ops.convert_to_numpy(init(shape))
    if kind == "RandomUniform":
        return rng.uniform(config["minval"], config["maxval"], shape)
    if kind in ("RandomNormal", "TruncatedNormal"):
        return _normal(rng, shape, config["mean"], config["stddev"], kind == "TruncatedNormal")
    if isinstance(init, keras.initializers.VarianceScaling):   # Glorot, He, LeCun
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out,
               "fan_avg": (fan_in + fan_out) / 2}[init.mode]
        variance = init.scale / max(1.0, fan)
        if init.distribution == "uniform":
            limit = np.sqrt(3 * variance)
            return rng.uniform(-limit, limit, shape)
        if init.distribution == "truncated_normal":   # the std of a normal cut at 2 sigma
            return _normal(rng, shape, 0.0, np.sqrt(variance) / 0.87962566103423978, True)
        return rng.normal(0.0, np.sqrt(variance), shape)
    return None


def _normal(rng, shape, mean, std, truncated):
    """Normal draws; truncated ones redrawn until within two standard deviations."""
    values = rng.normal(0.0, 1.0, shape)
    while truncated and (far := np.abs(values) > 2).any():
        values[far] = rng.normal(0.0, 1.0, int(far.sum()))
    return mean + std * values


def randomized_copy(model, above, seed=0, only=None):
    """A copy of `model` whose weighted layers after the layer path `above` are re-initialized
    with their own initializers (the caller's model is untouched); also the re-drawn paths.
    The values are drawn with NumPy (draw), the same under every Keras backend; a layer's draws
    depend on the seed and its place after `above` only. only: the paths to re-draw (among
    those after `above`; default all of them)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    leaves = layers.leaves(copy)
    paths = [leaf.path for leaf in leaves]
    if above not in paths:
        raise ValueError(f"unknown layer {above!r}")
    redrawn = []
    for k, leaf in enumerate(leaves[paths.index(above) + 1:]):
        if only is not None and leaf.path not in only:
            continue
        for j, v in enumerate(leaf.layer.weights):
            init = _initializer(leaf.layer, v)
            values = draw(init, tuple(v.shape), np.random.default_rng([seed, k, j]))
            if values is None:
                config = init.get_config()
                if "seed" in config:
                    init = type(init).from_config({**config, "seed": seed + 1000 * k + j})
                values = init(v.shape, v.dtype)
            v.assign(keras.ops.cast(values, v.dtype))
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
