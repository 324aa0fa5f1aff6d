"""One forward pass that also returns the target layer's activations A and the head's logits.

Backend-neutral: it calls the model's layers and Keras ops only, so a backend of any Keras
backend (TensorFlow, JAX, PyTorch) taps the target and differentiates in its own way.
"""
import keras

from cams import layers, scores, subclassed

_RELUS = ("relu", "relu6")


def is_relu(layer):
    """True for a ReLU layer or a layer whose fused activation is relu/relu6."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", "") in _RELUS


def _same(a):
    return a


def tapped_forward(model, x, target, head, value_of, at_target=_same, positive=None,
                   inputs=None, extras=()):
    """Run `model` on the image batch `x` (and its other inputs `extras`, placed as the
    layers.Inputs `inputs` says); return (A, logits, outputs).

    `target` is the layers.Leaf to tap; `at_target(A)` runs as soon as A exists and returns
    the tensor the rest of the model reads instead (A itself once a tape watches it, or A plus
    a zero perturbation to differentiate with respect to); the returned A is that tensor.
    `value_of(variable)` gives a variable's current value in this context. `positive`, for
    guided backprop, is the backend's identity whose gradient passes only positive values:
    every ReLU's output goes through it; the ReLU's own derivative already zeroes negative
    inputs, so the two together are the guided-backprop rule.
    """
    taps = {}

    def call(path, layer, args, kwargs):
        out = layers.call_inference(path, layer, args, kwargs)
        if path == target.path:
            out = taps["A"] = at_target(out)
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
        return _tapped_call(model, x, target, head, value_of, at_target, positive)
    outputs = layers.walk(model, x if inputs is None else inputs.assemble(x, extras), call)
    return taps["A"], taps["logits"], outputs


def _tapped_call(model, x, target, head, value_of, at_target, positive):
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
    for layer, fn in ((target.layer, tap), (head.layer, at_head)):
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
