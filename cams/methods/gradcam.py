"""Grad-CAM (Selvaraju et al. 2017): channels weighted by the spatial mean of the gradient."""
from cams.methods.spec import gradient_method
from cams.methods.weighting import f64, weighted_sum


def gradcam(A, G):
    """relu(sum_k w_k A_k) with w_k the spatial mean of dS/dA_k; (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return weighted_sum(A, G.mean(axis=(1, 2)))


METHOD = gradient_method("gradcam", 0, gradcam, "spatial mean of the gradient")
