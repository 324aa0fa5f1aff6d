"""Seg-Eigen-CAM (Chung & Ying 2025, Appl. Sci. 15(13) 7562): Eigen-CAM on |dS/dA| * A, the
gradient's magnitude kept per cell (eq. 10), the projection's sign chosen so that its larger
extreme is positive (eq. 13). Made for segmentation, whose evidence lies in both gradient
signs; it explains a classifier's score as well."""
import numpy as np

from cams.methods.eigencam import first_principal, projected
from cams.methods.spec import gradient_method
from cams.methods.weighting import f64


def larger_extreme_positive(projection, cells):
    """The projection, negated when its most negative value is larger in magnitude than its
    most positive one (the paper's sign correction; `cells` is not read)."""
    return -projection if abs(projection.min()) > abs(projection.max()) else projection


def segeigencam(A, G):
    """relu of each cell's |G| * A projected on its first principal component, signed by
    larger_extreme_positive; (N, h, w, K) -> (N, h, w)."""
    A, G = f64(A, G)
    return projected(np.abs(G) * A, first_principal, larger_extreme_positive)


METHOD = gradient_method("segeigencam", 19, segeigencam,
                         "first principal component of |gradient| times activation")
