"""CAMs that weight the target layer's activations A (N, h, w, K) with its gradients G = dS/dA.

Each function returns the map before scaling, (N, h, w), with the final ReLU applied.
"""
import numpy as np


def _f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def weighted_sum(A, w):
    """relu(sum_k w_k A_k) as (N, h, w) for channel weights w (N, K)."""
    A, w = _f64(A, w)
    return np.maximum(np.einsum("nhwk,nk->nhw", A, w), 0.0)


def _safe_divide(num, den):
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def gradcam(A, G):
    """Grad-CAM (Selvaraju et al. 2017): w_k is the spatial mean of dS/dA_k."""
    A, G = _f64(A, G)
    return weighted_sum(A, G.mean(axis=(1, 2)))


def gradcam_plus_plus(A, G, normalize_alphas=False):
    """Grad-CAM++ (Chattopadhay et al. 2018), the closed form of eq. 19 for S = exp(score):

    alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3),   w_k = sum_ij alpha_ij relu(g_ij).
    exp(score) scales every derivative of an image by the same positive factor, which cancels in
    alpha and in the scaled map, so only g = dscore/dA is needed. normalize_alphas=True divides
    each channel's alphas by their spatial sum, as the authors' code and tf-keras-vis do.
    """
    A, g = _f64(A, G)
    g2 = g * g
    denominator = 2.0 * g2 + A.sum(axis=(1, 2), keepdims=True) * g2 * g
    alphas = _safe_divide(g2, denominator)
    if normalize_alphas:
        alphas = _safe_divide(alphas, alphas.sum(axis=(1, 2), keepdims=True))
    return weighted_sum(A, (alphas * np.maximum(g, 0.0)).sum(axis=(1, 2)))


def xgradcam(A, G):
    """XGrad-CAM (Fu et al. 2020): w_k = sum_ij (A_ij / sum_ab A_ab) G_ij."""
    A, G = _f64(A, G)
    share = _safe_divide(A, A.sum(axis=(1, 2), keepdims=True))
    return weighted_sum(A, (share * G).sum(axis=(1, 2)))


def hirescam(A, G):
    """HiResCAM (Draelos & Carin 2020): relu(sum_k G_k * A_k), the gradient kept per cell."""
    A, G = _f64(A, G)
    return np.maximum((G * A).sum(axis=-1), 0.0)


def layercam(A, G):
    """Layer-CAM (Jiang et al. 2021): relu(sum_k relu(G_k) * A_k), positive gradients per cell."""
    A, G = _f64(A, G)
    return np.maximum((np.maximum(G, 0.0) * A).sum(axis=-1), 0.0)


def guided_grads(A, G):
    """Seed 001's "guided grads": gradients averaged only where A > 0 and G > 0.

    w_k = mean_ij([A_ij > 0][G_ij > 0] G_ij). The seed min-max scales the map; cams scales
    every method the same way (ReLU, then divide by the maximum).
    """
    A, G = _f64(A, G)
    gated = np.where((A > 0) & (G > 0), G, 0.0)
    return weighted_sum(A, gated.mean(axis=(1, 2)))
