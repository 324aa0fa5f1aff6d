"""One forward pass that also returns the target layer's activations A and the head's logits."""
import keras
import tensorflow as tf

from cams import layers, scores, subclassed

_RELUS = ("relu", "relu6")


def is_relu(layer):
    """True for a ReLU layer or a layer whose fused activation is relu/relu6."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", "") in _RELUS


@tf.custom_gradient
def positive_gradient(y):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""
    def grad(dy):
        return tf.nn.relu(dy)
    return tf.identity(y), grad


def tapped_forward(model, x, target, head, value_of, on_target=lambda a: None, guided=False,
                   inputs=None, extras=(), more_taps=None):
    """Run `model` on the image batch `x` (and its other inputs `extras`, placed as the
    layers.Inputs `inputs` says); return (A, logits, outputs).

    `target` is the layers.Leaf to tap; `on_target(A)` runs as soon as A exists (a tape watches
    it there); A is the layer's output as it is, tokens (N, T, D) included (tokens.to_grid
    makes them maps). `value_of(variable)` gives a variable's current value in this context. With
    guided=True every ReLU's output passes back only positive gradients: its own derivative
    already zeroes negative inputs, so the two together are the guided-backprop rule.
    more_taps: {layers.Leaf: fn(output) -> output} for other layers to tap on the way.
    """
    taps = {}

    def at_target(out):
        taps["A"] = out
        on_target(out)
        return out

    def call(path, layer, args, kwargs):
        out = layers.call_tapped(path, layer, args, kwargs, {target: at_target, **(more_taps or {})})
        if layer is head.layer:
            if head.twin is not None:
                taps["logits"] = scores.twin_logit(head, args[0], value_of)
            elif head.logit_is_input:
                taps["logits"] = args[0]
            else:
                taps["logits"] = out
        if guided and is_relu(layer):
            out = positive_gradient(out)
        return out

    if subclassed.is_subclassed(model):
        return _tapped_call(model, x, target, head, value_of, on_target, guided)
    outputs = layers.walk(model, x if inputs is None else inputs.assemble(x, extras), call)
    return taps["A"], taps["logits"], outputs


def _tapped_call(model, x, target, head, value_of, on_target, guided):
    """tapped_forward for a subclassed model: its own call, with the layers it uses tapped."""
    taps = {}

    def at_target(args, out):
        if "A" not in taps:  # a layer called twice is tapped at its first call
            taps["A"] = out
            on_target(out)
        return out

    def at_head(args, out):
        taps["logits"] = (scores.twin_logit(head, args[0], value_of) if head.twin is not None
                          else args[0] if head.logit_is_input else out)
        return out

    calls = {}
    if guided:
        relus = [leaf.layer for leaf in layers.leaves(model) if is_relu(leaf.layer)]
        calls.update({layer: lambda args, out: positive_gradient(out) for layer in relus})
    for layer, fn in ((target.layer, at_target), (head.layer, at_head)):
        before = calls.get(layer)
        calls[layer] = fn if before is None else (
            lambda args, out, fn=fn, before=before: before(args, fn(args, out)))
    outputs = subclassed.run(model, x, calls)
    return taps["A"], taps["logits"], outputs


def target_score(logits, outputs, classes, head, score):
    """(the score per image (N,) that gradients differentiate, classes with -1 resolved)."""
    values = logits if score == "logit" else outputs
    chosen = scores.choose(classes, values, outputs, head, score)
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
    for leaf in layers.leaves(model):
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
