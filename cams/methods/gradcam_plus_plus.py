"""Grad-CAM++ (Chattopadhay et al. 2018): gradients weighted by second/third-order alphas."""
import numpy as np

from cams.methods.spec import Option, boolean, gradient_method, non_negative_float
from cams.methods.weighting import EIGEN_SMOOTH, f64, safe_divide, weighted_sum


def gradcam_plus_plus(A, G, normalize_alphas=False, epsilon=0.0, eigen_smooth=False):
    """The closed form of eq. 19 for S = exp(score), (N, h, w, K) -> (N, h, w):

    alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3),   w_k = sum_ij alpha_ij relu(g_ij).
    exp(score) scales every derivative of an image by the same positive factor, which cancels in
    alpha and in the scaled map, so only g = dscore/dA is needed. normalize_alphas=True divides
    each channel's alphas by their spatial sum, as the authors' code and tf-keras-vis do.
    epsilon is added to the denominator: 0 is the closed form; pytorch-grad-cam adds 1e-6,
    which is not small beside 2 g^2 when the head averages a large map (g ~ 1e-3 makes
    2 g^2 ~ 2e-6), so its maps differ from the closed form's (by 0.17 on a 16 x 16 layer).
    """
    A, g = f64(A, G)
    g2 = g * g
    denominator = 2.0 * g2 + A.sum(axis=(1, 2), keepdims=True) * g2 * g + epsilon
    alphas = safe_divide(g2, denominator)
    if normalize_alphas:
        alphas = safe_divide(alphas, alphas.sum(axis=(1, 2), keepdims=True))
    return weighted_sum(A, (alphas * np.maximum(g, 0.0)).sum(axis=(1, 2)), eigen_smooth)


METHOD = gradient_method("gradcam++", 1, gradcam_plus_plus,
    "gradient weighted by second/third-order alphas (eq. 19)",
    options={"normalize_alphas": Option(False, boolean,
                                        "divide alphas by their spatial sum (tf-keras-vis)"),
             "epsilon": Option(0.0, non_negative_float,
                               "added to the alphas' denominator (pytorch-grad-cam: 1e-6)"),
             **EIGEN_SMOOTH})
