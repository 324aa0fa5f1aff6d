"""Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, no gradients."""
import numpy as np


def eigencam(A):
    """relu of the projection of each cell's K activations on their first principal component.

    A (N, h, w, K) -> (N, h, w). An eigenvector's sign is arbitrary: it is chosen so that the
    projection rises with the total activation sum_k A_k, so "more active" reads as "hotter".
    The map ignores the class: it is the same for every class_index.
    """
    A = np.asarray(A, np.float64)
    n, h, w, k = A.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        cells = A[i].reshape(h * w, k)
        centred = cells - cells.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projection = centred @ vt[0]
        if projection @ cells.sum(axis=1) < 0:
            projection = -projection
        out[i] = np.maximum(projection, 0.0).reshape(h, w)
    return out
