"""Graph backend: Chollet's K.gradients recipe, made safe for a process that stays eager.

The model is rebuilt in a private tf.Graph from a placeholder input, with graph variables that
hold a copy of the live weights; gradients come from tf.compat.v1.gradients (what K.gradients
calls) and run in the graph's own tf.compat.v1.Session. Eager execution is never switched off.
"""
import threading
import weakref

import keras
import tensorflow as tf

from cams import cache
from cams.backends.backend import PrimitiveBackend
from cams.backends.tapped import class_score, tapped_forward, target_score


class GraphBackend(PrimitiveBackend):
    """Computes A, dS/dA, guided input gradients and class scores in a TF1 graph and session."""

    name = "graph"

    def __init__(self, model, target, head, score):
        self._live = _unique(model.variables)
        self._watch = cache.WeightsWatch(self._live)
        # A weak reference: the per-model cache holds this object, and must not pin the model;
        # the guided graph is built later, on first use.
        self._model = weakref.ref(model)
        self._target, self._head, self._score = target, head, score
        self.graph = tf.Graph()
        with self.graph.as_default():
            shape = (None,) + tuple(model.inputs[0].shape[1:])
            self._x = tf.compat.v1.placeholder(tf.float32, shape, name="images")
            self._classes = tf.compat.v1.placeholder(tf.int32, (None,), name="classes")
            self._loaders, self._graph_vars = [], {}
            for v in self._live:
                feed = tf.compat.v1.placeholder(v.dtype, v.shape)
                copy = tf.Variable(feed, trainable=False)
                self._loaders.append((copy.initializer, feed, v))
                self._graph_vars[id(v)] = copy
            A, logits, outputs = self._build()
            S, chosen = target_score(logits, outputs, self._classes, head, score)
            G = tf.compat.v1.gradients(tf.reduce_sum(S), A)[0]
            self._fetches = {
                "gradients": (A, G, outputs, chosen), "forward": (A, outputs, chosen),
                "scores": class_score(logits, self._classes, head, score)}
        self.session = tf.compat.v1.Session(graph=self.graph)
        self._building = threading.Lock()

    def _build(self, guided=False):
        mapping = [(v, self._graph_vars[id(v)]) for v in self._live]
        with keras.StatelessScope(state_mapping=mapping):
            return tapped_forward(self._model(), self._x, self._target, self._head,
                                  value_of=lambda v: self._graph_vars[id(v)], guided=guided)

    def _guided_fetches(self):
        with self._building, self.graph.as_default():  # the demo serves two requests at once
            if "guided" not in self._fetches:
                _, logits, outputs = self._build(guided=True)
                S, chosen = target_score(logits, outputs, self._classes, self._head, self._score)
                R = tf.compat.v1.gradients(tf.reduce_sum(S), self._x)[0]
                self._fetches["guided"] = (R, outputs, chosen)
            return self._fetches["guided"]

    def _run(self, fetches, x, classes):
        if self._watch.changed():
            ops = [op for op, _, _ in self._loaders]
            self.session.run(ops, {feed: v.numpy() for _, feed, v in self._loaders})
        return self.session.run(fetches, {self._x: x, self._classes: classes})

    def gradients(self, x, classes):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        return self._run(self._fetches["gradients"], x, classes)

    def forward(self, x, classes):
        """(A, outputs, classes) without gradients."""
        return self._run(self._fetches["forward"], x, classes)

    def guided_gradients(self, x, classes):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""
        return self._run(self._guided_fetches(), x, classes)

    def class_scores(self, x, classes):
        """The score of each image for its class (N,)."""
        return self._run(self._fetches["scores"], x, classes)


def _unique(variables):
    seen, kept = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            kept.append(v)
    return kept
