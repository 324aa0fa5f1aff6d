"""Eager backend: tf.GradientTape inside tf.functions, each traced once per (model, layer, score)."""
import weakref

import tensorflow as tf

from cams import scores
from cams.backends.backend import PrimitiveBackend
from cams.backends.tapped import class_score, tapped_forward, target_score


@tf.custom_gradient
def positive_gradient(y):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""
    def grad(dy):
        return tf.nn.relu(dy)
    return tf.identity(y), grad


def watched(tape):
    """at_target for tapped_forward: the tape watches A, which passes on unchanged."""
    def at_target(A):
        tape.watch(A)
        return A
    return at_target


class EagerBackend(PrimitiveBackend):
    """Computes A, dS/dA, guided input gradients and class scores on the live model."""

    name = "eager"

    def __init__(self, model, target, info, score):
        # A weak reference: the per-model cache holds this object, and must not pin the model.
        self._model = weakref.ref(model)
        self._target, self._head, self._score = target, info.head, score
        self._inputs = info.inputs
        images = tf.TensorSpec((None,) + info.input_shape[1:], tf.float32)
        extras = [tf.TensorSpec((None,) + info.inputs.shapes[k][1:], info.inputs.dtypes[k])
                  for k in info.inputs.others]
        signature = [images, tf.TensorSpec((None,), tf.int32), *extras]
        self._compiled = {name: tf.function(fn, input_signature=signature) for name, fn in (
            ("gradients", self._gradients), ("forward", self._forward),
            ("guided", self._guided), ("scores", self._class_scores))}
        self._compiled["all"] = tf.function(self._gradients_all, input_signature=[
            images, tf.TensorSpec((None, None), tf.int32), *extras])

    def _run(self, x, extras, guided=False, tape=None):
        return tapped_forward(self._model(), x, self._target, self._head,
                              value_of=lambda v: v.value,
                              at_target=(lambda a: a) if tape is None else watched(tape),
                              positive=positive_gradient if guided else None,
                              inputs=self._inputs, extras=extras)

    def _gradients(self, x, classes, *extras):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            A, logits, outputs = self._run(x, extras, tape=tape)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return A, tape.gradient(S, A), outputs, chosen

    def _gradients_all(self, x, classes, *extras):
        # One forward pass; the Jacobian of the (N, L) scores with respect to A, vectorized
        # over the L classes (each image's scores depend on its own A only).
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            A, logits, outputs = self._run(x, extras, tape=tape)
            S = scores.select(logits if self._score == "logit" else outputs, classes, self._head)
        return A, tape.batch_jacobian(S, A), outputs, classes

    def _forward(self, x, classes, *extras):
        A, logits, outputs = self._run(x, extras)
        _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return A, outputs, chosen

    def _guided(self, x, classes, *extras):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            _, logits, outputs = self._run(x, extras, guided=True)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return tape.gradient(S, x), outputs, chosen

    def _class_scores(self, x, classes, *extras):
        _, logits, _ = self._run(x, extras)
        return class_score(logits, classes, self._head, self._score)

    def _call(self, name, x, classes, extras):
        out = self._compiled[name](tf.constant(x, tf.float32), tf.constant(classes, tf.int32),
                                   *extras)
        return tuple(t.numpy() for t in out) if isinstance(out, tuple) else out.numpy()

    def gradients(self, x, classes, extras=()):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        return self._call("gradients", x, classes, extras)

    def forward(self, x, classes, extras=()):
        """(A, outputs, classes) without gradients."""
        return self._call("forward", x, classes, extras)

    def gradients_all(self, x, classes, extras=()):
        """(A, G (N, L, h, w, K), outputs, classes) for classes (N, L), from one forward pass."""
        return self._call("all", x, classes, extras)

    def guided_gradients(self, x, classes, extras=()):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""
        return self._call("guided", x, classes, extras)

    def class_scores(self, x, classes, extras=()):
        """The score of each image for its class (N,)."""
        return self._call("scores", x, classes, extras)
