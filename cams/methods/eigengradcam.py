"""EigenGrad-CAM (pytorch-grad-cam's EigenGradCAM): Eigen-CAM on the gradient-weighted
activations A * dS/dA, so the first principal component follows the class's evidence."""
from cams.methods.eigencam import eigencam
from cams.methods.spec import gradient_method
from cams.methods.weighting import f64


def eigengradcam(A, G):
    """relu of each cell's A * G projected on its first principal component, signed to rise
    with sum_k A_k G_k (eigencam's rule); (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return eigencam(A * G)


METHOD = gradient_method("eigengradcam", 12, eigengradcam,
                         "first principal component of gradient times activation")
