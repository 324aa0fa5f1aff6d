"""Layer-CAM (Jiang et al. 2021): positive gradients times activations, per cell."""
import numpy as np

from cams.methods.spec import gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, combined, f64


def layercam(A, G, eigen_smooth=False):
    """relu(sum_k relu(G_k) * A_k); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return combined(np.maximum(G, 0.0) * A, eigen_smooth)


METHOD = gradient_method("layercam", 4, layercam,
                "positive gradient times activation, per cell", options=EIGEN_SMOOTH)
