"""Which transformer layers' patch tokens reach the model's output.

When the head reads only the class token, the patch tokens of the last block's output (and of
its MLP, its second layer norm, the final norm) are never read: their gradient is exactly zero
and so is every gradient map there. One forward and backward pass on a seeded random image
finds those layers, whatever the head: a zero added to each layer's output at its first call,
and the gradient of a random projection of the model's output with respect to those zeros,
taken by the running Keras backend (TensorFlow, JAX or PyTorch).
"""
import keras
import numpy as np

from cams.model import layers, subclassed, tokens


def dead_paths(model, token_leaves, image=None):
    """The paths (frozenset) of the Leafs in `token_leaves` (each with its grid) whose patch
    tokens get an all-zero gradient of a random projection of the model's output."""
    forward = _forward(model)
    def run(deltas):
        """The projection score with deltas[path] added to each tapped output; the shapes."""
        shapes = {}

        def tap(leaf):
            def fn(out):
                shapes[leaf.path] = tuple(out.shape)
                return out + deltas[leaf.path] if deltas and leaf.path in deltas else out
            return fn

        out = forward({leaf: tap(leaf) for leaf in token_leaves})
        out = keras.ops.reshape(keras.ops.cast(out, "float32"), (1, -1))
        weights = np.random.default_rng(1).normal(size=(1, out.shape[1])).astype("float32")
        return keras.ops.sum(keras.ops.multiply(out, keras.ops.convert_to_tensor(weights))), shapes

    _, shapes = run(None)
    zeros = {p: np.zeros(s, "float32") for p, s in shapes.items()}
    grads = _gradients(run, zeros)
    by_path = {leaf.path: leaf for leaf in token_leaves}
    return frozenset(p for p, g in grads.items()
                     if g is None or not np.any(tokens.to_grid(g, by_path[p].grid)))


def _forward(model):
    """fn(taps {Leaf: fn(output) -> output}) -> the model's output on a seeded random input,
    the tapped layers' outputs replaced on the way: through the Functional graph, or a
    subclassed model's own call."""
    rng = np.random.default_rng(0)
    if subclassed.is_subclassed(model):
        shape = subclassed.model_inputs(model).image_shape
        x = keras.ops.convert_to_tensor(rng.normal(size=(1,) + shape[1:]).astype("float32"))

        def run(taps):
            called = set()  # a layer called twice (a block's dropout) is tapped at its first

            def first(leaf, fn):
                def tapped(args, out):
                    if leaf.path in called:
                        return out
                    called.add(leaf.path)
                    return fn(out)
                return tapped
            return subclassed.run(model, x, {leaf.layer: first(leaf, fn)
                                             for leaf, fn in taps.items()})
        return run
    graph = layers._functional(model)
    x = [keras.ops.convert_to_tensor(
            rng.normal(size=(1,) + tuple(t.shape)[1:]).astype(t.dtype)
            if t.dtype.startswith("float") else np.zeros((1,) + tuple(t.shape)[1:], t.dtype))
         for t in graph.inputs]
    return lambda taps: layers.walk(model, x, lambda *a: layers.call_tapped(*a, taps))


def _gradients(run, zeros):
    """{path: d score / d delta as NumPy, or None where the score does not depend on it}."""
    backend = keras.backend.backend()
    paths = list(zeros)
    if backend == "tensorflow":
        import tensorflow as tf

        deltas = {p: tf.constant(v) for p, v in zeros.items()}
        with tf.GradientTape() as tape:
            tape.watch(list(deltas.values()))
            score, _ = run(deltas)
        found = tape.gradient(score, [deltas[p] for p in paths])
    elif backend == "jax":
        import jax

        found = jax.grad(lambda d: run(d)[0])({p: v for p, v in zeros.items()})
        found = [found[p] for p in paths]
    elif backend == "torch":
        import torch

        deltas = {p: torch.zeros(v.shape, requires_grad=True,
                                 device=keras.ops.convert_to_tensor(v).device)
                  for p, v in zeros.items()}
        with torch.enable_grad():
            score, _ = run(deltas)
            found = torch.autograd.grad(score, [deltas[p] for p in paths], allow_unused=True)
    else:
        raise ValueError(f"cams reads transformer layers under Keras' tensorflow, jax or torch "
                         f"backend, not {backend!r}")
    return {p: None if g is None else keras.ops.convert_to_numpy(g)
            for p, g in zip(paths, found)}
