"""The CAM math on plain arrays: activations A (N, h, w, K), gradients G = dS/dA, same shape."""
import numpy as np


def gradcam_weights(G):
    """Grad-CAM channel weights w (N, K): the spatial mean of the gradient of each channel."""
    return np.asarray(G, np.float64).mean(axis=(1, 2))


def weighted_sum(A, w):
    """relu(sum_k w_k A_k) as (N, h, w): the class activation map before scaling."""
    cam = np.einsum("nhwk,nk->nhw", np.asarray(A, np.float64), np.asarray(w, np.float64))
    return np.maximum(cam, 0.0)


def gradcam(A, G):
    """Grad-CAM (Selvaraju et al. 2017): relu(sum_k mean(dS/dA_k) A_k), shape (N, h, w)."""
    return weighted_sum(A, gradcam_weights(G))


def normalize(cam):
    """Each map divided by its maximum, float32 (N, h, w) in [0, 1]; an all-zero map stays 0."""
    cam = np.asarray(cam, dtype=np.float64)
    peak = cam.max(axis=(1, 2), keepdims=True)
    safe = np.where(peak > 0, peak, 1.0)
    return np.where(peak > 0, cam / safe, 0.0).astype(np.float32)


METHODS = {"gradcam": gradcam}
