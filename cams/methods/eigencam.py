"""Eigen-CAM (Muhammad & Yeasin 2020): the activations' first principal component, no gradients."""
import numpy as np

from cams.methods.spec import Maps, Method


def oriented(projection, cells):
    """The projection (M,) of the cells (M, K) on a principal component, its arbitrary sign
    chosen so that it rises with the total activation sum_k A_k ("more active" reads as
    "hotter"). Where the two barely correlate (after a layer norm every token's activations sum
    to about 0, and the sign would follow rounding), its largest entry is made positive, as
    scikit-learn orients a component."""
    rise = projection @ cells.sum(axis=1)
    if abs(rise) > 1e-4 * np.linalg.norm(projection) * np.linalg.norm(cells):
        return projection if rise > 0 else -projection
    return projection if projection[np.argmax(np.abs(projection))] >= 0 else -projection


def projected(A, component, orient=oriented):
    """relu of each image's cells projected by component(centred cells (M, K)) -> (M,), signed
    by orient(projection, cells); A (N, h, w, K) -> (N, h, w). The eigen methods' shared
    frame."""
    A = np.asarray(A, np.float64)
    n, h, w, k = A.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        cells = A[i].reshape(h * w, k)
        projection = orient(component(cells - cells.mean(axis=0)), cells)
        out[i] = np.maximum(projection, 0.0).reshape(h, w)
    return out


def first_principal(centred):
    """The centred cells (M, K) projected on their first principal component (M,)."""
    return centred @ np.linalg.svd(centred, full_matrices=False)[2][0]


def eigencam(A):
    """relu of the projection of each cell's K activations on their first principal component.

    A (N, h, w, K) -> (N, h, w). An eigenvector's sign is arbitrary: `oriented` chooses it.
    The map ignores the class: it is the same for every class_index.
    """
    return projected(A, first_principal)


def run(backend, x, classes):
    """Maps of Eigen-CAM from the backend's forward pass (the classes only name the outputs)."""
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(eigencam(A), outputs, chosen)


METHOD = Method("eigencam", 7, run, "first principal component of the activations (no class)",
                needs=("forward",), class_specific=False)
