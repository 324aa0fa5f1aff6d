"""HiResCAM (Draelos & Carin 2020): the gradient kept per cell instead of averaged."""
import numpy as np

from cams.methods.spec import gradient_method
from cams.methods.weighting import f64


def hirescam(A, G):
    """relu(sum_k G_k * A_k); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return np.maximum((G * A).sum(axis=-1), 0.0)


METHOD = gradient_method("hirescam", 3, hirescam, "gradient times activation, per cell")
