"""Shared by the CAMs that weight the target layer's activations A (N, h, w, K) by channel or
by cell, and then sum the weighted activations over channels, or, with eigen_smooth, take
their first principal component (pytorch-grad-cam's eigen_smooth)."""
import numpy as np

from cams.methods.eigencam import first_principal, projected
from cams.methods.spec import Option, boolean

EIGEN_SMOOTH = {"eigen_smooth": Option(
    False, boolean, "the first principal component of the weighted activations instead of "
    "their sum (less noise)")}


def f64(*arrays):
    """The arrays as float64 NumPy arrays."""
    return [np.asarray(a, np.float64) for a in arrays]


def combined(P, eigen_smooth=False):
    """relu(sum_k P_k) of weighted activations P (N, h, w, K) -> (N, h, w); with eigen_smooth,
    relu of each image's cells projected on the first principal component of P, signed to rise
    with sum_k P_k (pytorch-grad-cam keeps the SVD's arbitrary sign)."""
    P = np.asarray(P, np.float64)
    if eigen_smooth:
        return projected(P, first_principal)
    return np.maximum(P.sum(axis=-1), 0.0)


def weighted_sum(A, w, eigen_smooth=False):
    """relu(sum_k w_k A_k) as (N, h, w) for channel weights w (N, K); with eigen_smooth, the
    first principal component of the w_k A_k (`combined`)."""
    A, w = f64(A, w)
    if eigen_smooth:
        return combined(A * w[:, None, None, :], True)
    return np.maximum(np.einsum("nhwk,nk->nhw", A, w), 0.0)


def min_max(a, axes=(-2, -1)):
    """a scaled over `axes` as pytorch-grad-cam scales maps: (a - min) / (1e-7 + max of
    a - min), float64."""
    a = np.asarray(a, np.float64)
    a = a - a.min(axis=axes, keepdims=True)
    return a / (1e-7 + a.max(axis=axes, keepdims=True))


def safe_divide(num, den):
    """num / den, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)
