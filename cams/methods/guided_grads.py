"""Seed 001's "guided grads": gradients averaged only where activation and gradient are positive."""
import numpy as np

from cams.methods.spec import gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, f64, weighted_sum


def guided_grads(A, G, eigen_smooth=False):
    """w_k = mean_ij([A_ij > 0][G_ij > 0] G_ij); (N, h, w, K) -> (N, h, w).

    The seed min-max scales the map; cams scales every method the same way (ReLU, then divide
    by the maximum).
    """
    A, G = f64(A, G)
    gated = np.where((A > 0) & (G > 0), G, 0.0)
    return weighted_sum(A, gated.mean(axis=(1, 2)), eigen_smooth)


METHOD = gradient_method("guided-grads", 5, guided_grads,
                "gradient averaged where activation and gradient are positive (seed 001)",
                options=EIGEN_SMOOTH)
