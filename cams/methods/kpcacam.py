"""KPCA-CAM (Karmani et al. 2024): Eigen-CAM with kernel PCA, the first nonlinear principal
component of the cells' activations; no gradients, no class."""
import numpy as np
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh

from cams.methods.eigencam import projected
from cams.methods.spec import Maps, Method, Option, one_of

KERNELS = ("sigmoid", "rbf", "poly", "cosine", "linear")
# above this many cells the leading eigenvector comes from Lanczos iterations, not a full eigh
_DENSE_UP_TO = 1024


def _positive_or_none(name, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a number > 0 or None; got {value!r}")


def kernel_matrix(X, kernel, gamma=None, coef0=1.0, degree=3):
    """The kernel between the rows of X (M, K): scikit-learn's kernels and defaults (gamma
    1 / K, coef0 1, degree 3)."""
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    if kernel == "rbf":
        squared = (X * X).sum(axis=1)
        return np.exp(-gamma * np.maximum(squared[:, None] + squared[None] - 2 * X @ X.T, 0))
    if kernel == "cosine":
        norm = np.linalg.norm(X, axis=1)
        unit = np.divide(X, norm[:, None], out=np.zeros_like(X), where=norm[:, None] > 0)
        return unit @ unit.T
    dot = X @ X.T
    return {"linear": lambda: dot, "sigmoid": lambda: np.tanh(gamma * dot + coef0),
            "poly": lambda: (gamma * dot + coef0) ** degree}[kernel]()


def leading_component(K):
    """The data's projection on the first component of the kernel K (M, M) after centring it
    in feature space: eigenvector * sqrt(eigenvalue), as kernel PCA's transform gives it; zeros
    when the centred kernel is rounding noise (cells alike to ~1e-10: no component to show)."""
    m = len(K)
    row = K.mean(axis=0)
    centred = K - row[None] - row[:, None] + row.mean()
    if m <= _DENSE_UP_TO:
        values, vectors = eigh(centred, subset_by_index=[m - 1, m - 1])
    else:
        values, vectors = eigsh(centred, k=1, which="LA", v0=np.ones(m))
    if values[0] <= 1e-10 * m * np.abs(K).max():
        return np.zeros(m)
    return vectors[:, 0] * np.sqrt(values[0])


def kpcacam(A, kernel="sigmoid", gamma=None):
    """relu of each cell's projection on the first kernel principal component of the cells'
    centred activations; (N, h, w, K) -> (N, h, w). The component's sign is chosen as in
    Eigen-CAM (eigencam.oriented)."""
    return projected(A, lambda centred: leading_component(kernel_matrix(centred, kernel, gamma)))


def run(backend, x, classes, kernel="sigmoid", gamma=None):
    """Maps of KPCA-CAM from the backend's forward pass (the classes only name the outputs)."""
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(kpcacam(A, kernel, gamma), outputs, chosen)


METHOD = Method("kpcacam", 14, run,
                "first kernel principal component of the activations (no class)",
                needs=("forward",), class_specific=False,
                options={"kernel": Option("sigmoid", one_of(*KERNELS), "the kernel of the PCA"),
                         "gamma": Option(None, _positive_or_none,
                                         "the kernel's scale; None: 1 / channels")})
