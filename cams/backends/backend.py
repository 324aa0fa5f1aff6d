"""The backend interface: what every backend (eager, graph, tf-keras-vis) implements.

A backend is built once per (model, target layer, score) and cached with the model; `cam` turns
a checked batch into a method's unscaled maps. Backends built on cams' own math implement the
primitives of PrimitiveBackend and let each method's `run` combine them.
"""
import abc

from cams.methods import METHODS


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
        classes (N,) int32, -1 meaning the predicted class."""


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

    def cam(self, x, classes, method, options):
        return METHODS[method].run(self, x, classes, **options)
