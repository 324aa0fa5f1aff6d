"""Eager backend: tf.GradientTape inside one tf.function, traced once per (model, layer, score)."""
import weakref

import tensorflow as tf

from cams import scores
from cams.backends.forward import GradientBackend, tapped_forward


class EagerBackend(GradientBackend):
    """Computes A, dS/dA and the outputs with a compiled GradientTape on the live model."""

    name = "eager"

    def __init__(self, model, target, head, score):
        # A weak reference: the per-model cache holds this object, and must not pin the model.
        self._model = weakref.ref(model)
        self._target, self._head, self._score = target, head, score
        spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)
        self._run = tf.function(
            self._gradients, input_signature=[spec, tf.TensorSpec((None,), tf.int32)])

    def _gradients(self, x, classes):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            A, values, outputs = tapped_forward(
                self._model(), x, self._target, self._head, self._score,
                value_of=lambda v: v.value, on_target=tape.watch)
            chosen = scores.choose(classes, values, outputs, self._head, self._score)
            S = scores.select(values, chosen, self._head)
        G = tape.gradient(S, A)
        return A, G, outputs, chosen

    def gradients(self, x, classes):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        A, G, outputs, chosen = self._run(tf.constant(x), tf.constant(classes, tf.int32))
        return A.numpy(), G.numpy(), outputs.numpy(), chosen.numpy()

