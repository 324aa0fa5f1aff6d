"""Shared by the CAMs that weight the target layer's activations A (N, h, w, K) by channel."""
import numpy as np


def f64(*arrays):
    """The arrays as float64 NumPy arrays."""
    return [np.asarray(a, np.float64) for a in arrays]


def weighted_sum(A, w):
    """relu(sum_k w_k A_k) as (N, h, w) for channel weights w (N, K)."""
    A, w = f64(A, w)
    return np.maximum(np.einsum("nhwk,nk->nhw", A, w), 0.0)


def safe_divide(num, den):
    """num / den, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)
