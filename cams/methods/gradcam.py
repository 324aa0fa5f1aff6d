"""Grad-CAM (Selvaraju et al. 2017): channels weighted by the spatial mean of the gradient."""
import numpy as np

from cams.methods.spec import gradient_method
from cams.methods.weighting import weighted_sum


def gradcam(A, G):
    """relu(sum_k w_k A_k) with w_k the spatial mean of dS/dA_k; (N, h, w, K) -> (N, h, w)."""
    return weighted_sum(A, np.mean(G, axis=(1, 2), dtype=np.float64))


def gradcam_all(A, G):
    """gradcam of L classes at once: A (N, h, w, K), G (N, L, h, w, K) -> (N, L, h, w). The
    mean is taken before anything is copied, so a 14-label head costs one A in float64."""
    w = np.mean(G, axis=(2, 3), dtype=np.float64)
    return np.maximum(np.einsum("nhwk,nlk->nlhw", np.asarray(A, np.float64), w), 0.0)


METHOD = gradient_method("gradcam", 0, gradcam, "spatial mean of the gradient",
                         formula_all=gradcam_all)
