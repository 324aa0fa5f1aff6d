"""Eager backend: tf.GradientTape inside tf.functions, each traced once per (model, layer, score)."""
import tensorflow as tf

from cams.model import scores, tokens
from cams.backends.backend import CompiledBackend
from cams.backends.tf_moments import exact_moments
from cams.backends.tapped import (attention_layers, attention_taps, biased_leaves,
                                  channels_scaled, class_score, queries_and_keys, recording,
                                  tapped_forward, target_score)


@tf.custom_gradient
def positive_gradient(y):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""
    def grad(dy):
        return tf.nn.relu(dy)
    return tf.identity(y), grad


def watched(*tapes):
    """at_target for tapped_forward: the tapes watch A, which passes on unchanged."""
    def at_target(A):
        for tape in tapes:
            tape.watch(A)
        return A
    return at_target


class EagerBackend(CompiledBackend):
    """Computes A, dS/dA, guided input gradients and class scores on the live model."""

    name = "eager"

    def __init__(self, model, target, info, score):
        super().__init__(model, target, info, score)
        images = tf.TensorSpec((None,) + info.input_shape[1:], tf.float32)
        extras = [tf.TensorSpec((None,) + info.inputs.shapes[k][1:], info.inputs.dtypes[k])
                  for k in info.inputs.others]
        signature = [images, tf.TensorSpec((None,), tf.int32), *extras]
        self._compiled = {name: tf.function(fn, input_signature=signature) for name, fn in (
            ("gradients", self._gradients), ("forward", self._forward),
            ("guided", self._guided), ("scores", self._class_scores),
            ("second", self._second), ("attention", self._attention),
            ("bias", self._bias))}
        self._compiled["ablated"] = tf.function(self._ablated, input_signature=[
            images, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, None), tf.float32),
            *extras])
        self._images, self._extras = images, extras

    def _run(self, x, extras, guided=False, tape=None, more_taps=None, at_target=None):
        if at_target is None:
            at_target = (lambda a: a) if tape is None else watched(tape)
        return tapped_forward(self._model(), x, self._target, self._head,
                              value_of=lambda v: v.value, at_target=at_target,
                              positive=positive_gradient if guided else None,
                              inputs=self._inputs, extras=extras, more_taps=more_taps)

    def _attention(self, x, classes, *extras):
        found = []
        _, logits, outputs = self._run(x, extras, more_taps=attention_taps(self._model(), found))
        _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return (*queries_and_keys(found), outputs, chosen)

    def _grid(self, t):
        """A layer's tokens (..., T, D) as patch maps (..., h, w, D); a map as it is."""
        return tokens.to_grid(t, self._target.grid)

    def _gradients(self, x, classes, *extras):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            A, logits, outputs = self._run(x, extras, tape=tape)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return self._grid(A), self._grid(tape.gradient(S, A)), outputs, chosen

    def _label_gradients(self, x, classes, extras, reduce):
        # One forward pass; then one backward pass per class column, from a persistent tape:
        # each image's scores depend on its own A only, so the gradient of a column's sum is
        # every image's gradient. A Python loop over the L columns (L is fixed per trace) runs
        # as fast as the forward pass where batch_jacobian's vectorization took 1.4x.
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            A, logits, outputs = self._run(x, extras, tape=tape)
            S = scores.select(logits if self._score == "logit" else outputs, classes, self._head)
            columns = [S[:, j] for j in range(classes.shape[1])]
        G = tf.stack([reduce(self._grid(tape.gradient(column, A))) for column in columns],
                     axis=1)
        del tape
        return self._grid(A), G, outputs, classes

    def _gradients_all(self, x, classes, *extras):
        return self._label_gradients(x, classes, extras, lambda g: g)

    def _pooled_all(self, x, classes, *extras):
        return self._label_gradients(x, classes, extras, lambda g: tf.reduce_mean(g, (1, 2)))

    def _for_labels(self, name, n_labels):
        """The compiled function `name` for n_labels classes per image, traced once each."""
        key = (name, n_labels)
        if key not in self._compiled:
            fn = {"all": self._gradients_all, "pooled_all": self._pooled_all}[name]
            self._compiled[key] = tf.function(fn, input_signature=[
                self._images, tf.TensorSpec((None, n_labels), tf.int32), *self._extras])
        return self._compiled[key]

    def _forward(self, x, classes, *extras):
        A, logits, outputs = self._run(x, extras)
        _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return self._grid(A), outputs, chosen

    def _guided(self, x, classes, *extras):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            _, logits, outputs = self._run(x, extras, guided=True)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return tape.gradient(S, x), outputs, chosen

    def _second(self, x, classes, *extras):
        # the inner tape's gradient is recorded by the outer one, which differentiates it
        # again along A (output_gradients A: sum_j dG_i/dA_j A_j)
        with tf.GradientTape(watch_accessed_variables=False) as outer:
            with tf.GradientTape(watch_accessed_variables=False) as inner:
                A, logits, outputs = self._run(x, extras, at_target=watched(inner, outer))
                S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            G = inner.gradient(S, A)
        HA = outer.gradient(G, A, output_gradients=tf.stop_gradient(A),
                            unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return self._grid(A), self._grid(G), self._grid(HA), outputs, chosen

    def second_order(self, x, classes, extras=()):
        """(A, G, H A, outputs, classes), H the Hessian of S with respect to A."""
        with exact_moments():   # in force whenever the function traces
            return self._call("second", x, classes, extras)

    def _bias(self, x, classes, *extras):
        leaves, found = biased_leaves(self._model()), {}
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            _, logits, outputs = self._run(x, extras, more_taps=recording(
                leaves, found, at=lambda k, out: watched(tape)(out)))
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
        outs = [found[leaf.path] for leaf in leaves]
        R, *grads = tape.gradient(S, [x] + outs,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return R, outs, grads, outputs, chosen

    def _ablated(self, x, classes, keep, *extras):
        _, logits, _ = self._run(x, extras, at_target=channels_scaled(keep))
        return class_score(logits, classes, self._head, self._score)

    def ablated_scores(self, x, classes, keep, extras=()):
        """The class scores (N,) with the target's channels multiplied by keep (N, K)."""
        return self._compiled["ablated"](tf.constant(x, tf.float32),
                                         tf.constant(classes, tf.int32),
                                         tf.constant(keep, tf.float32), *extras).numpy()

    def _class_scores(self, x, classes, *extras):
        _, logits, _ = self._run(x, extras)
        return class_score(logits, classes, self._head, self._score)

    def _call(self, name, x, classes, extras):
        fn = (self._for_labels(name, classes.shape[1]) if name in ("all", "pooled_all")
              else self._compiled[name])
        out = fn(tf.constant(x, tf.float32), tf.constant(classes, tf.int32), *extras)
        return tf.nest.map_structure(lambda t: t.numpy(), out)

    def pooled_gradients_all(self, x, classes, extras=()):
        """(A, the spatial mean of each class's dS/dA (N, L, K), outputs, classes), averaged in
        the compiled function so that the Jacobian never leaves it."""
        return self._call("pooled_all", x, classes, extras)

    def attention(self, x, classes, extras=()):
        """(queries, keys, outputs, classes): each attention layer's projections (N, T, h, dk)."""
        attention_layers(self._model())  # refused here: inside tf.function the error's text
        return self._call("attention", x, classes, extras)  # would carry autograph's trace
