"""Shapley-CAM (Cai 2025): Grad-CAM read as a Shapley value, to second order. A channel's
weight is the spatial mean of dS/dA - 1/2 H A, with H the Hessian of the score S with respect
to the layer's activations A: the gradient alone is the first-order term of the activations'
Shapley values; the Hessian term corrects it where the score bends.

After the layer a ReLU network is piecewise linear up to the logits, so H A vanishes for a
logit score; it lives where a softmax (the probability, the default here) or another smooth
nonlinearity lies between the layer and the score.
"""

from cams.methods.spec import Maps, Method
from cams.methods.weighting import EIGEN_SMOOTH, f64, weighted_sum


def shapleycam(A, G, HA, eigen_smooth=False):
    """relu(sum_k w_k A_k), w_k the spatial mean of G_k - HA_k / 2; (N, h, w, K) -> (N, h, w)."""
    A, G, HA = f64(A, G, HA)
    return weighted_sum(A, (G - 0.5 * HA).mean(axis=(1, 2)), eigen_smooth)


def run(backend, x, classes, eigen_smooth=False):
    """Maps of Shapley-CAM from the backend's gradient and Hessian-vector product."""
    A, G, HA, outputs, chosen = backend.second_order(x, classes)
    return Maps(shapleycam(A, G, HA, eigen_smooth), outputs, chosen)


METHOD = Method("shapleycam", 17, run,
                "gradient corrected by the Hessian (second-order Shapley value)",
                needs=("second_order",), score="probability", options=EIGEN_SMOOTH)
