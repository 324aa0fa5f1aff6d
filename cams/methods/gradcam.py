"""Grad-CAM (Selvaraju et al. 2017): channels weighted by the spatial mean of the gradient."""
import numpy as np

from cams.methods.spec import Maps, gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, weighted_sum


def gradcam(A, G, eigen_smooth=False):
    """relu(sum_k w_k A_k) with w_k the spatial mean of dS/dA_k; (N, h, w, K) -> (N, h, w)."""
    return weighted_sum(A, np.mean(G, axis=(1, 2), dtype=np.float64), eigen_smooth)


def gradcam_all(A, w, eigen_smooth=False):
    """gradcam of L classes at once from A (N, h, w, K) and each class's spatial mean of the
    gradient w (N, L, K) -> (N, L, h, w)."""
    A, w = np.asarray(A, np.float64), np.asarray(w, np.float64)
    if eigen_smooth:
        return np.stack([weighted_sum(A, w[:, j], True) for j in range(w.shape[1])], axis=1)
    return np.maximum(np.einsum("nhwk,nlk->nlhw", A, w), 0.0)


def run_all(backend, x, classes, eigen_smooth=False):
    """Every class's map from one pass; the backend averages the Jacobian over space itself,
    so the (N, L, h, w, K) gradients never leave it (a 14-label head's are 112 MB a batch)."""
    A, w, outputs, chosen = backend.pooled_gradients_all(x, classes)
    return Maps(gradcam_all(A, w, eigen_smooth), outputs, chosen)


METHOD = gradient_method("gradcam", 0, gradcam, "spatial mean of the gradient",
                         run_all=run_all, options=EIGEN_SMOOTH)
