"""XGrad-CAM (Fu et al. 2020): gradients weighted by each cell's share of the activation."""
from cams.methods.spec import gradient_method
from cams.methods.weighting import EIGEN_SMOOTH, f64, safe_divide, weighted_sum


def xgradcam(A, G, eigen_smooth=False):
    """w_k = sum_ij (A_ij / sum_ab A_ab) G_ij; (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    share = safe_divide(A, A.sum(axis=(1, 2), keepdims=True))
    return weighted_sum(A, (share * G).sum(axis=(1, 2)), eigen_smooth)


METHOD = gradient_method("xgradcam", 2, xgradcam, "gradient weighted by activation share",
                         options=EIGEN_SMOOTH)
