"""The backend interface: what every backend (eager, graph, tf-keras-vis) implements.

A backend is built once per (model, target layer, score) and cached with the model; `cam` turns
a checked batch into a method's unscaled maps. Backends built on cams' own math implement the
primitives of PrimitiveBackend and let each method's `run` combine them.
"""
import abc

import numpy as np

from cams.methods import METHODS, Maps


class Backend(abc.ABC):
    """Computes CAMs of one model at one target layer, for one score ("logit"/"probability")."""

    name = None  # the name cams.explain(backend=...) takes

    @abc.abstractmethod
    def __init__(self, model, target, head, score):
        """model: the caller's Keras model (never modified); target: the layers.Leaf to explain;
        head: scores.Head of the model; score: "logit" or "probability"."""

    @abc.abstractmethod
    def cam(self, x, classes, method, options):
        """methods.Maps of `method` with checked `options` on float32 x (N, H, W, C);
        classes (N,) int32, -1 meaning the predicted class, or (N, L) for L maps per image."""


def each_class(cam_of_one, x, classes):
    """Maps of classes (N, L) computed one class column at a time with cam_of_one(x, column)."""
    parts = [cam_of_one(x, np.ascontiguousarray(classes[:, j])) for j in range(classes.shape[1])]
    attributions = (None if parts[0].attributions is None
                    else np.stack([p.attributions for p in parts], axis=1))
    return Maps(np.stack([p.cam for p in parts], axis=1), parts[0].outputs, classes,
                attributions)


class PrimitiveBackend(Backend):
    """A backend offering cams' primitives; each method's math (cams.methods) makes the map."""

    @abc.abstractmethod
    def gradients(self, x, classes):
        """(A, G = dS/dA, outputs, classes) as NumPy arrays, classes -1 resolved."""

    @abc.abstractmethod
    def forward(self, x, classes):
        """(A, outputs, classes) without gradients."""

    @abc.abstractmethod
    def guided_gradients(self, x, classes):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""

    @abc.abstractmethod
    def class_scores(self, x, classes):
        """The score (N,) of each image for its class."""

    def gradients_all(self, x, classes):
        """(A, G (N, L, h, w, K), outputs, classes) for classes (N, L): the gradient of each of
        the L scores; here one backward pass per class, backends may do it in one."""
        found = [self.gradients(x, np.ascontiguousarray(classes[:, j]))
                 for j in range(classes.shape[1])]
        return found[0][0], np.stack([f[1] for f in found], axis=1), found[0][2], classes

    def cam(self, x, classes, method, options):
        spec = METHODS[method]
        if classes.ndim == 1:
            return spec.run(self, x, classes, **options)
        if spec.run_all is not None:
            return spec.run_all(self, x, classes, **options)
        return each_class(lambda xs, c: spec.run(self, xs, c, **options), x, classes)
