"""The random-logit check (Sixt et al. 2020): a map that explains a class must change when
another class is explained. Quantus compares the two maps by SSIM by default; cams by Spearman's
rank correlation, as its randomization check does."""
import numpy as np

from cams.metrics.randomization import rank_correlation


def other_classes(classes, n_classes, seed=0):
    """For each image, a class other than its own, drawn uniformly with NumPy's seeded rng."""
    classes = np.asarray(classes, np.int64)
    if n_classes < 2:
        raise ValueError("the random-logit check needs a model with two classes or more")
    rng = np.random.default_rng(seed)
    return (classes + rng.integers(1, n_classes, size=len(classes))) % n_classes


def random_logit(explain, x, classes, n_classes, seed=0, original=None):
    """Per image, Spearman's rho between the map of its class and the map of another class
    (other_classes). explain(x, classes) -> heatmaps (N, ...). A rho near 1 means the map barely
    depends on the class it is asked about: lower is better. original: the maps of the images'
    own classes when the caller has them."""
    if original is None:
        original = explain(x, classes)
    other = explain(x, other_classes(classes, n_classes, seed))
    return np.array([rank_correlation(a, b) for a, b in zip(original, other)])
