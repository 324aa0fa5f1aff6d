"""Is a map stable under a change of the image too small to matter? Robustness in Quantus'
sense: the map of a slightly perturbed image, against the map of the image. Each perturbed
copy is explained for the image's own class; every copy of a sample is explained in one call,
and the noise is drawn from a seeded NumPy generator, so a run repeats exactly."""
import numpy as np


def _maps(maps):
    return np.asarray(maps, np.float64).reshape(len(maps), -1)


def value_ranges(x, factor):
    """factor times each image's value range (1 for a constant image), shaped to scale x."""
    flat = x.reshape(len(x), -1)
    span = flat.max(axis=1) - flat.min(axis=1)
    return (np.where(span > 0, span, 1.0) * factor).reshape((-1,) + (1,) * (x.ndim - 1))


def max_sensitivity(explain, x, classes, radius=0.02, samples=10, seed=0, original=None):
    """Max-sensitivity (Yeh et al. 2019), (N,): the largest ||map(x + d) - map(x)|| /
    ||map(x)|| (Frobenius norms) over `samples` perturbations d drawn uniformly in [-r, r] per
    input value, r = radius times the image's value range. explain(x, classes) -> maps (N, ...).
    Lower is more robust; a map of zeros gives inf when a perturbed one is not zero."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    base = _maps(explain(x, classes) if original is None else original)
    span = value_ranges(x, radius)
    norm = np.linalg.norm(base, axis=1)
    worst = np.zeros(len(x))
    for _ in range(samples):
        noisy = x + (rng.uniform(-1.0, 1.0, x.shape) * span).astype(np.float32)
        change = np.linalg.norm(_maps(explain(noisy, classes)) - base, axis=1)
        ratio = np.divide(change, norm, out=np.where(change > 0, np.inf, 0.0), where=norm > 0)
        worst = np.maximum(worst, ratio)
    return worst


def local_lipschitz(explain, x, classes, std=0.1, samples=10, seed=0, original=None):
    """The local Lipschitz estimate (Alvarez-Melis & Jaakkola 2018), (N,): the largest
    ||map(x + d) - map(x)|| / ||d|| (Euclidean) over `samples` Gaussian perturbations d of
    standard deviation std times the image's value range. Lower is more robust."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    base = _maps(explain(x, classes) if original is None else original)
    span = value_ranges(x, std)
    worst = np.zeros(len(x))
    for _ in range(samples):
        step = (rng.normal(0.0, 1.0, x.shape) * span).astype(np.float32)
        change = np.linalg.norm(_maps(explain(x + step, classes)) - base, axis=1)
        worst = np.maximum(worst, change / np.linalg.norm(step.reshape(len(x), -1), axis=1))
    return worst
