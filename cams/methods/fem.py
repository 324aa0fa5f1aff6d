"""FEM, the Feature Explanation Method (Fuad et al. 2020): each channel weighted by the share
of its cells that stand out of it, by the k-sigma rule; no gradients, no class."""
import numpy as np

from cams.methods.spec import Maps, Method, Option, non_negative_float
from cams.methods.weighting import weighted_sum


def fem(A, k=2.0):
    """w_k = the share of channel k's cells above its mean + k standard deviations (over the
    map, population std), map relu(sum_k w_k A_k); (N, h, w, K) -> (N, h, w)."""
    A = np.asarray(A, np.float64)
    mean = A.mean(axis=(1, 2), keepdims=True)
    spread = A.std(axis=(1, 2), keepdims=True)
    weights = (A > mean + k * spread).mean(axis=(1, 2))
    return weighted_sum(A, weights)


def run(backend, x, classes, k=2.0):
    """Maps of FEM from the backend's forward pass (the classes only name the outputs)."""
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(fem(A, k), outputs, chosen)


METHOD = Method("fem", 13, run, "activations weighted by their share of outlying cells (no class)",
                needs=("forward",), class_specific=False,
                options={"k": Option(2.0, non_negative_float,
                                     "a cell stands out above mean + k standard deviations")})
