"""Element-wise Grad-CAM (pytorch-grad-cam's GradCAMElementWise): each cell's gradient times
activation, rectified channel by channel before the sum, so that a channel that speaks against
the class cannot cancel one that speaks for it at the same place (HiResCAM sums first)."""
import numpy as np

from cams.methods.spec import gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, combined, f64


def gradcam_elementwise(A, G, eigen_smooth=False):
    """sum_k relu(G_k * A_k); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return combined(np.maximum(G * A, 0.0), eigen_smooth)


METHOD = gradient_method("gradcam-elementwise", 11, gradcam_elementwise,
                         "gradient times activation, rectified per channel, then summed",
                         options=EIGEN_SMOOTH)
