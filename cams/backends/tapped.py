"""One forward pass that also returns the target layer's activations A and the head's logits.

Backend-neutral: it calls the model's layers and Keras ops only, so a backend of any Keras
backend (TensorFlow, JAX, PyTorch) taps the target and differentiates in its own way.
"""
import keras

from cams.model import layers, scores, subclassed

_RELUS = ("relu", "relu6")


def is_relu(layer):
    """True for a ReLU layer or a layer whose fused activation is relu/relu6."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", "") in _RELUS


def _same(a):
    return a


def channels_scaled(keep):
    """at_target for tapped_forward: A with each image's channels (its last axis) multiplied
    by keep (N, K), the same at every cell or token (Ablation-CAM's zeroed channels)."""
    def at_target(A):
        shape = (-1,) + (1,) * (len(A.shape) - 2) + (A.shape[-1],)
        return A * keras.ops.reshape(keras.ops.cast(keep, A.dtype), shape)
    return at_target


def tapped_forward(model, x, target, head, value_of, at_target=_same, positive=None,
                   inputs=None, extras=(), more_taps=None):
    """Run `model` on the image batch `x` (and its other inputs `extras`, placed as the
    layers.Inputs `inputs` says); return (A, logits, outputs).

    `target` is the layers.Leaf to tap; `at_target(A)` runs as soon as A exists and returns
    the tensor the rest of the model reads instead (A itself once a tape watches it, or A plus
    a zero perturbation to differentiate with respect to); the returned A is that tensor, as
    the layer gives it, tokens (N, T, D) included (tokens.to_grid makes them maps).
    `value_of(variable)` gives a variable's current value in this context. `positive`, for
    guided backprop, is the backend's identity whose gradient passes only positive values:
    every ReLU's output goes through it; the ReLU's own derivative already zeroes negative
    inputs, so the two together are the guided-backprop rule.
    more_taps: {layers.Leaf: fn(output) -> output} for other layers to tap on the way.
    """
    taps = {}

    def tap(out):
        out = taps["A"] = at_target(out)
        return out

    def call(path, layer, args, kwargs):
        out = layers.call_tapped(path, layer, args, kwargs,
                                 _with_target(target, tap, more_taps))
        if layer is head.layer:
            if head.twin is not None:
                taps["logits"] = scores.twin_logit(head, args[0], value_of)
            elif head.logit_is_input:
                taps["logits"] = args[0]
            else:
                taps["logits"] = out
        if positive is not None and is_relu(layer):
            out = positive(out)
        return out

    if subclassed.is_subclassed(model):
        return _tapped_call(model, x, target, head, value_of, at_target, positive, more_taps)
    outputs = layers.walk(model, x if inputs is None else inputs.assemble(x, extras), call)
    return taps["A"], taps["logits"], outputs


def _with_target(target, tap, more_taps):
    """{Leaf: fn} of the target's tap and the other taps; where the target is among them too,
    its tap runs first and the other one on what it returns."""
    more = dict(more_taps or {})
    if target in more:
        other = more.pop(target)
        return {target: lambda out: other(tap(out)), **more}
    return {target: tap, **more}


def _tapped_call(model, x, target, head, value_of, at_target, positive, more_taps=None):
    """tapped_forward for a subclassed model: its own call, with the layers it uses tapped."""
    taps = {}

    def tap(args, out):
        if "A" not in taps:  # a layer called twice is tapped at its first call
            out = taps["A"] = at_target(out)
        return out

    def at_head(args, out):
        taps["logits"] = (scores.twin_logit(head, args[0], value_of) if head.twin is not None
                          else args[0] if head.logit_is_input else out)
        return out

    calls = {}
    if positive is not None:
        relus = [leaf.layer for leaf in layers.leaves(model) if is_relu(leaf.layer)]
        calls.update({layer: lambda args, out: positive(out) for layer in relus})
    others = [(leaf.layer, lambda args, out, fn=fn: fn(out))
              for leaf, fn in (more_taps or {}).items()]
    for layer, fn in [(target.layer, tap), (head.layer, at_head)] + others:
        before = calls.get(layer)
        calls[layer] = fn if before is None else (
            lambda args, out, fn=fn, before=before: before(args, fn(args, out)))
    outputs = subclassed.run(model, x, calls)
    return taps["A"], taps["logits"], outputs


def target_score(logits, outputs, classes, head, score):
    """(the score per image (N,) that gradients differentiate, classes with -1 resolved)."""
    values = logits if score == "logit" else outputs
    chosen = scores.choose(classes, outputs, head)
    return scores.select(values, chosen, head), chosen


def class_score(logits, classes, head, score):
    """The score of each image for its class (N,): the logit, or the class probability."""
    if score == "logit":
        return scores.select(logits, classes, head)
    return scores.probability_from_logits(logits, classes, head)


def attention_layers(model):
    """[(path, layer)] of every keras.layers.MultiHeadAttention the model runs (inside its
    blocks too), in model order; ValueError naming the attention layers found otherwise."""
    found, others = [], []
    if subclassed.is_subclassed(model):  # its leaves are the innermost layers it calls
        owner = {id(mha._query_dense): mha
                 for mha in model._flatten_layers(include_self=False, recursive=True)
                 if isinstance(mha, keras.layers.MultiHeadAttention)}
        found = [(leaf.path.rsplit("/", 1)[0], owner[id(leaf.layer)])
                 for leaf in layers.leaves(model) if id(leaf.layer) in owner]
    for leaf in [] if found else layers.leaves(model):
        inner = [(leaf.path, leaf.layer)] + [(leaf.path + "/" + rel, d)
                                             for rel, d in layers._descendants(leaf.layer)]
        for path, layer in inner:
            if isinstance(layer, keras.layers.MultiHeadAttention):
                found.append((path, layer))
            elif "Attention" in type(layer).__name__:
                others.append(f"{path} ({type(layer).__name__})")
    if not found:
        seen = ", ".join(others) or "none"
        raise ValueError(f"attention rollout reads the probabilities of keras.layers."
                         f"MultiHeadAttention layers; {model.name!r} has none (other attention "
                         f"layers: {seen}), and cams does not recompute a custom attention "
                         "(Swin's windows, DINOv3's rotary embeddings) without changing it")
    return found


def attention_taps(model, found):
    """({Leaf: fn} tapping each attention layer's query and key projections, and the list
    `found` that a pass fills with (index, "query"/"key", projection (N, T, heads, dk)))."""
    taps = {}
    for k, (path, mha) in enumerate(attention_layers(model)):
        for role, dense in (("query", mha._query_dense), ("key", mha._key_dense)):
            leaf = layers.Leaf(f"{path}/{dense.name}", dense, None)
            taps[leaf] = (lambda out, k=k, role=role: found.append((k, role, out)) or out)
    return taps


def queries_and_keys(found):
    """The (queries, keys) lists of a pass's `found` (see attention_taps), in layer order."""
    n = 1 + max(k for k, _, _ in found)
    by = {(k, role): t for k, role, t in found}
    return [by[(k, "query")] for k in range(n)], [by[(k, "key")] for k in range(n)]


_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                 keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                 keras.layers.Conv2DTranspose)


def biased_leaves(model):
    """FullGrad's layers: the model's leaves that add a bias to a 2-D feature map (N, h, w, K),
    convolutions with a bias and batch normalizations over the channels (whose folded bias is
    beta - gamma mean / std), in model order. A head's batch norm on a vector is not one, as
    pytorch-grad-cam takes BatchNorm2d and not BatchNorm1d."""
    found = []
    for leaf in layers.leaves(model):
        layer = leaf.layer
        if leaf.shape is None or len(leaf.shape) != 4:
            continue
        if isinstance(layer, keras.layers.BatchNormalization) and layer.axis in (-1, 3, [-1],
                                                                                  [3]):
            found.append(leaf)
        elif isinstance(layer, _CONVOLUTIONS) and getattr(layer, "use_bias", False):
            found.append(leaf)
    return found


def bias_of(layer):
    """A biased leaf's bias (K,) as NumPy, read from its current weights: a convolution's own,
    or a batch normalization's folded one, beta - gamma * moving_mean / sqrt(moving_var + eps)."""
    import numpy as np

    if not isinstance(layer, keras.layers.BatchNormalization):
        return np.asarray(keras.ops.convert_to_numpy(layer.bias), np.float64)
    value = lambda v: np.asarray(keras.ops.convert_to_numpy(v), np.float64)  # noqa: E731
    mean, variance = value(layer.moving_mean), value(layer.moving_variance)
    gamma = value(layer.gamma) if layer.scale else np.ones_like(mean)
    beta = value(layer.beta) if layer.center else np.zeros_like(mean)
    return beta - gamma * mean / np.sqrt(variance + layer.epsilon)


def recording(leaves, found, at=None):
    """more_taps for tapped_forward: each leaf's output recorded in found[leaf.path], passed on
    through at(k, output) (k its place in `leaves`) when given."""
    def tap(k, leaf):
        def record(out):
            out = out if at is None else at(k, out)
            found[leaf.path] = out
            return out
        return record
    return {leaf: tap(k, leaf) for k, leaf in enumerate(leaves)}
