"""Finer-CAM (Zhang et al. 2025): Grad-CAM of the class's logit minus the logits of the classes
the model finds most alike, so the map shows what tells the class from its look-alikes.

The score, as pytorch-grad-cam's FinerWeightedTarget writes it: F = s_c - alpha sum_j w_j s_j
over the `comparisons` classes j whose logits lie nearest to s_c, with w the softmax of their
logits (their probabilities, renormalized), differentiated through w too. A sigmoid head's
labels, and a binary head's two classes (logits -z and z), are compared the same way.
"""
import numpy as np

from cams.methods.gradcam import gradcam_all
from cams.methods.spec import Maps, Method, Option, non_negative_float, positive_int
from cams.methods.weighting import EIGEN_SMOOTH


def logits_of(outputs, head):
    """Each class's logit (N, n_classes) from the model's outputs, up to a constant per row
    for a softmax; a binary head's classes 0 and 1 have logits -z and z."""
    outputs = np.asarray(outputs, np.float64)
    if head.activation == "softmax":
        return np.log(np.maximum(outputs, np.finfo(np.float64).tiny))
    if head.activation == "sigmoid":
        p = np.clip(outputs, 1e-300, 1 - 1e-16)
        outputs = np.log(p) - np.log1p(-p)
    return np.concatenate([-outputs, outputs], axis=1) if head.binary else outputs


def look_alikes(logits, classes, comparisons):
    """Per image, the `comparisons` other classes whose logits lie nearest to its class's
    (N, M), M at most C - 1; nearest first, ties by class number."""
    n, n_classes = logits.shape
    gap = np.abs(logits - logits[np.arange(n), classes][:, None])
    gap[np.arange(n), classes] = np.inf
    return np.argsort(gap, axis=1, kind="stable")[:, :min(comparisons, n_classes - 1)]


def score_weights(logits, classes, others, alpha):
    """dF/ds for the class (1) and each look-alike j: -alpha w_j (1 + s_j - sum_m w_m s_m)
    with w the softmax of the look-alikes' logits; (N, 1 + M)."""
    s = np.take_along_axis(logits, others, axis=1)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    mean = (w * s).sum(axis=1, keepdims=True)
    return np.concatenate([np.ones((len(s), 1)), -alpha * w * (1 + s - mean)], axis=1)


def run(backend, x, classes, alpha=1.0, comparisons=3, eigen_smooth=False):
    """Maps of Finer-CAM: one forward pass finds the look-alikes, one gradient pass (of the
    class and its look-alikes) gives dF/dA, averaged over space as Grad-CAM's weights."""
    head = backend.head
    if head.kind == "regression":
        raise ValueError("finercam compares a class with other classes; this model has one "
                         "output and no classes (a regression head)")
    if backend.score != "logit":
        raise ValueError("finercam differentiates logits: use score='logit' (its default)")
    _, outputs, chosen = backend.forward(x, classes)
    logits = logits_of(outputs, head)
    others = look_alikes(logits, np.asarray(chosen), comparisons)
    A, pooled, outputs, _ = backend.pooled_gradients_all(
        x, np.concatenate([np.asarray(chosen)[:, None], others], axis=1).astype(np.int32))
    dF = score_weights(logits, np.asarray(chosen), others, alpha)
    weights = np.einsum("nl,nlk->nk", dF, np.asarray(pooled, np.float64))
    return Maps(gradcam_all(A, weights[:, None], eigen_smooth)[:, 0], outputs, chosen)


METHOD = Method("finercam", 15, run,
                "Grad-CAM of the class's logit against the classes most like it",
                needs=("forward", "gradients"),
                options={"alpha": Option(1.0, non_negative_float,
                                         "how much of the look-alikes' logits is taken away"),
                         "comparisons": Option(3, positive_int,
                                               "how many look-alike classes to compare with"),
                         **EIGEN_SMOOTH})
