"""Graph backend: Chollet's K.gradients recipe, made safe for a process that stays eager.

The model is rebuilt in a private tf.Graph from a placeholder input, with graph variables that
hold a copy of the live weights; gradients come from tf.compat.v1.gradients (what K.gradients
calls) and run in the graph's own tf.compat.v1.Session. Eager execution is never switched off.
"""
import keras
import tensorflow as tf

from cams import cache, scores
from cams.backends.forward import GradientBackend, tapped_forward


class GraphBackend(GradientBackend):
    """Computes A, dS/dA and the outputs by running a TF1 graph in its own session."""

    name = "graph"

    def __init__(self, model, target, head, score):
        self._live = _unique(model.variables)
        self._watch = cache.WeightsWatch(self._live)
        self.graph = tf.Graph()
        with self.graph.as_default():
            shape = (None,) + tuple(model.inputs[0].shape[1:])
            self._x = tf.compat.v1.placeholder(tf.float32, shape, name="images")
            self._classes = tf.compat.v1.placeholder(tf.int32, (None,), name="classes")
            self._loaders, graph_vars = [], {}
            for v in self._live:
                feed = tf.compat.v1.placeholder(v.dtype, v.shape)
                copy = tf.Variable(feed, trainable=False)
                self._loaders.append((copy.initializer, feed, v))
                graph_vars[id(v)] = copy
            with keras.StatelessScope(state_mapping=[(v, graph_vars[id(v)]) for v in self._live]):
                A, values, outputs = tapped_forward(
                    model, self._x, target, head, score, value_of=lambda v: graph_vars[id(v)])
                chosen = scores.choose(self._classes, values, outputs, head, score)
                S = tf.reduce_sum(scores.select(values, chosen, head))
            G = tf.compat.v1.gradients(S, A)[0]
            self._fetches = (A, G, outputs, chosen)
        self.session = tf.compat.v1.Session(graph=self.graph)

    def _load_weights(self):
        ops = [op for op, _, _ in self._loaders]
        self.session.run(ops, {feed: v.numpy() for _, feed, v in self._loaders})

    def gradients(self, x, classes):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        if self._watch.changed():
            self._load_weights()
        return self.session.run(self._fetches, {self._x: x, self._classes: classes})


def _unique(variables):
    seen, kept = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            kept.append(v)
    return kept

