"""HiResCAM (Draelos & Carin 2020): the gradient kept per cell instead of averaged."""
from cams.methods.spec import gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, combined, f64


def hirescam(A, G, eigen_smooth=False):
    """relu(sum_k G_k * A_k); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return combined(G * A, eigen_smooth)


METHOD = gradient_method("hirescam", 3, hirescam, "gradient times activation, per cell",
                         options=EIGEN_SMOOTH)
