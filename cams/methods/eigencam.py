"""Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, no gradients."""
import numpy as np

from cams.methods.spec import Maps, Method


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


def run(backend, x, classes):
    """Maps of Eigen-CAM from the backend's forward pass (the classes only name the outputs)."""
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(eigencam(A), outputs, chosen)


METHOD = Method("eigencam", 7, run, "first principal component of the activations (no class)",
                needs=("forward",), class_specific=False)
