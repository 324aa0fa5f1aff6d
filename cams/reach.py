"""Which transformer layers' patch tokens reach the model's output.

When the head reads only the class token, the patch tokens of the last block's output (and of
its MLP, its second layer norm, the final norm) are never read: their gradient is exactly zero
and so is every gradient map there. One forward and backward pass on a seeded random image
finds those layers, whatever the head.
"""
import numpy as np
import tensorflow as tf

from cams import layers, tokens


def dead_paths(model, token_leaves, image=None):
    """The paths (frozenset) of the Leafs in `token_leaves` (each with its grid) whose patch
    tokens get an all-zero gradient of a random projection of the model's output."""
    graph = layers._functional(model)
    rng = np.random.default_rng(0)
    x = [tf.constant(rng.normal(size=(1,) + tuple(t.shape)[1:]), t.dtype)
         if t.dtype.startswith("float") else tf.zeros((1,) + tuple(t.shape)[1:], t.dtype)
         for t in graph.inputs]
    found = {}
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        def tap(leaf):
            def fn(out):
                if leaf.path not in found:
                    tape.watch(out)
                    found[leaf.path] = out
                return out
            return fn

        taps = {leaf: tap(leaf) for leaf in token_leaves}
        out = layers.walk(model, x, lambda *a: layers.call_tapped(*a, taps))
        out = tf.cast(tf.reshape(out, (1, -1)), tf.float32)
        weights = tf.constant(rng.normal(size=(1, out.shape[1])), tf.float32)
        S = tf.reduce_sum(out * weights)
    paths = [leaf.path for leaf in token_leaves if leaf.path in found]
    grads = tape.gradient(S, [found[p] for p in paths])
    by_path = {leaf.path: leaf for leaf in token_leaves}
    return frozenset(p for p, g in zip(paths, grads)
                     if g is None or not np.any(tokens.to_grid(g.numpy(), by_path[p].grid)))
