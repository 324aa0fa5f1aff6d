"""JAX backend, for Keras running on JAX (KERAS_BACKEND=jax): jax.jit-compiled functions, traced
once per (model, layer, score) and batch shape.

The model runs inside a keras.StatelessScope that maps each of its variables to a value passed
in at every call, so the compiled functions read the model's current weights (never constants
baked in at tracing: a model trained further is explained with its new weights). dS/dA is the
gradient with respect to a zero perturbation added to A where the layer walk taps the target,
which works at any depth, through skip connections and nested bases; all L classes' gradients
come from one forward pass with jax.jacrev.
"""
import jax
import jax.numpy as jnp
import keras
import numpy as np

from cams.model import scores
from cams.backends.backend import CompiledBackend, on_grid
from cams.backends.tapped import (attention_layers, attention_taps, biased_leaves,
                                  channels_scaled, class_score, queries_and_keys, recording,
                                  tapped_forward, target_score)


@jax.custom_vjp
def positive_gradient(y):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""
    return y


positive_gradient.defvjp(lambda y: (y, None), lambda _, dy: (jnp.maximum(dy, 0),))


def unique_variables(model):
    """The model's variables, each once (a shared layer lists its variables twice)."""
    seen, found = set(), []
    for v in model.variables:
        if id(v) not in seen:
            seen.add(id(v))
            found.append(v)
    return found


class JaxBackend(CompiledBackend):
    """Computes A, dS/dA, guided input gradients and class scores with jax.jit and jax.grad."""

    name = "jax"
    fixed_shapes = True

    def __init__(self, model, target, info, score):
        super().__init__(model, target, info, score)
        self._variables = unique_variables(model)  # they do not hold the model
        self._compiled = {name: jax.jit(fn) for name, fn in (
            ("gradients", self._gradients), ("all", self._gradients_all),
            ("forward", self._forward), ("guided", self._guided),
            ("scores", self._class_scores), ("attention", self._attention),
            ("second", self._second), ("ablated", self._ablated), ("bias", self._bias))}

    def _run(self, values, x, extras, at_target=lambda a: a, positive=None, more_taps=None):
        """tapped_forward with the model's variables read from `values`."""
        mapping = list(zip(self._variables, values))
        with keras.StatelessScope(state_mapping=mapping):
            return tapped_forward(self._model(), x, self._target, self._head,
                                  value_of=lambda v: v.value, at_target=at_target,
                                  positive=positive, inputs=self._inputs, extras=extras,
                                  more_taps=more_taps)

    def _zero_at_target(self, values, x, extras):
        """Zeros of A's shape and dtype, the perturbation differentiated with respect to."""
        A = jax.eval_shape(lambda: self._run(values, x, extras)[0])
        return jnp.zeros(A.shape, A.dtype)

    def _gradients(self, values, x, classes, extras):
        def score(delta):
            A, logits, outputs = self._run(values, x, extras, at_target=lambda a: a + delta)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            return jnp.sum(S), (A, outputs, chosen)  # image n's S depends on its own A only

        G, (A, outputs, chosen) = jax.grad(score, has_aux=True)(
            self._zero_at_target(values, x, extras))
        return A, G, outputs, chosen

    def _gradients_all(self, values, x, classes, extras):
        def score(delta):
            A, logits, outputs = self._run(values, x, extras, at_target=lambda a: a + delta)
            S = scores.select(logits if self._score == "logit" else outputs, classes, self._head)
            return jnp.sum(S, axis=0), (A, outputs)  # (L,): summed over independent images

        G, (A, outputs) = jax.jacrev(score, has_aux=True)(self._zero_at_target(values, x, extras))
        return A, jnp.moveaxis(G, 0, 1), outputs, classes  # G (L, N, ...) -> (N, L, ...)

    def _second(self, values, x, classes, extras):
        def gradient(delta):
            def score(d):
                A, logits, outputs = self._run(values, x, extras, at_target=lambda a: a + d)
                S, chosen = target_score(logits, outputs, classes, self._head, self._score)
                return jnp.sum(S), (A, outputs, chosen)
            return jax.grad(score, has_aux=True)(delta)

        zero = self._zero_at_target(values, x, extras)
        A = self._run(values, x, extras)[0]
        # forward over reverse: the gradient's derivative along A is H A
        (G, (A, outputs, chosen)), (HA, _) = jax.jvp(gradient, (zero,), (A,))
        return A, G, HA, outputs, chosen

    def _bias(self, values, x, classes, extras):
        leaves = biased_leaves(self._model())

        def outs_of(images, deltas=None):
            found = {}
            at = None if deltas is None else (lambda k, out: out + deltas[k])
            _, logits, outputs = self._run(values, images, extras,
                                           more_taps=recording(leaves, found, at))
            return [found[leaf.path] for leaf in leaves], logits, outputs

        shapes = jax.eval_shape(lambda: outs_of(x)[0])
        zeros = [jnp.zeros(s.shape, s.dtype) for s in shapes]

        def score(images, deltas):
            outs, logits, outputs = outs_of(images, deltas)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            return jnp.sum(S), (outs, outputs, chosen)

        (R, grads), (outs, outputs, chosen) = jax.grad(score, argnums=(0, 1), has_aux=True)(
            x, zeros)
        return R, outs, grads, outputs, chosen

    def bias_gradients(self, x, classes, extras=()):
        """(dS/dx, outs, grads, outputs, classes) of tapped.biased_leaves, in that order."""
        values = [v.value for v in self._variables]
        R, outs, grads, outputs, chosen = self._compiled["bias"](
            values, jnp.asarray(x, jnp.float32), jnp.asarray(classes, jnp.int32),
            tuple(jnp.asarray(e) for e in extras))
        return (np.asarray(R), [np.asarray(o) for o in outs], [np.asarray(g) for g in grads],
                np.asarray(outputs), np.asarray(chosen))

    def _ablated(self, values, x, classes, keep, extras):
        _, logits, _ = self._run(values, x, extras, at_target=channels_scaled(keep))
        return class_score(logits, classes, self._head, self._score)

    def ablated_scores(self, x, classes, keep, extras=()):
        """The class scores (N,) with the target's channels multiplied by keep (N, K)."""
        values = [v.value for v in self._variables]
        return np.asarray(self._compiled["ablated"](
            values, jnp.asarray(x, jnp.float32), jnp.asarray(classes, jnp.int32),
            jnp.asarray(keep, jnp.float32), tuple(jnp.asarray(e) for e in extras)))

    def _forward(self, values, x, classes, extras):
        A, logits, outputs = self._run(values, x, extras)
        _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return A, outputs, chosen

    def _guided(self, values, x, classes, extras):
        def score(images):
            _, logits, outputs = self._run(values, images, extras, positive=positive_gradient)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            return jnp.sum(S), (outputs, chosen)

        R, (outputs, chosen) = jax.grad(score, has_aux=True)(x)
        return R, outputs, chosen

    def _attention(self, values, x, classes, extras):
        found = []
        _, logits, outputs = self._run(values, x, extras,
                                       more_taps=attention_taps(self._model(), found))
        _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        return queries_and_keys(found), outputs, chosen

    def attention(self, x, classes, extras=()):
        """(queries, keys, outputs, classes): each attention layer's projections (N, T, h, dk)."""
        attention_layers(self._model())  # a model without them is refused before tracing
        values = [v.value for v in self._variables]
        (queries, keys), outputs, chosen = self._compiled["attention"](
            values, jnp.asarray(x, jnp.float32), jnp.asarray(classes, jnp.int32),
            tuple(jnp.asarray(e) for e in extras))
        return ([np.asarray(q) for q in queries], [np.asarray(k) for k in keys],
                np.asarray(outputs), np.asarray(chosen))

    def _class_scores(self, values, x, classes, extras):
        _, logits, _ = self._run(values, x, extras)
        return class_score(logits, classes, self._head, self._score)

    def _call(self, name, x, classes, extras):
        values = [v.value for v in self._variables]  # the current weights, read at each call
        out = self._compiled[name](values, jnp.asarray(x, jnp.float32),
                                   jnp.asarray(classes, jnp.int32),
                                   tuple(jnp.asarray(e) for e in extras))
        if not isinstance(out, tuple):
            return np.asarray(out)
        out = tuple(np.asarray(t) for t in out)
        laid = {"gradients": 2, "all": 2, "forward": 1, "second": 3}.get(name, 0)  # maps first
        return on_grid(self.grid, *out[:laid]) + out[laid:]
