"""HiResCAM (Draelos & Carin 2020): the gradient kept per cell instead of averaged."""
import numpy as np

from cams.methods.spec import Method, from_gradients
from cams.methods.weighting import f64


def hirescam(A, G):
    """relu(sum_k G_k * A_k); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return np.maximum((G * A).sum(axis=-1), 0.0)


METHOD = Method("hirescam", 3, from_gradients(hirescam), "gradient times activation, per cell",
                needs=("gradients",))
