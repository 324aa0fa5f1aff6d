"""One forward pass that also returns the target layer's activations A and the score source."""
from cams import layers, methods, scores


def tapped_forward(model, x, target, head, score, value_of, on_target=lambda a: None):
    """Run `model` on `x`; return (A, values to score, outputs).

    `target` is the layers.Leaf to tap; `on_target(A)` runs as soon as A exists (a tape watches
    it there). The values to score are the outputs for score="probability" and the head's logits
    for score="logit". `value_of(variable)` gives a variable's current value in this context.
    """
    taps = {}

    def call(path, layer, args, kwargs):
        out = layers.call_inference(path, layer, args, kwargs)
        if path == target.path:
            taps["A"] = out
            on_target(out)
        if layer is head.layer:
            if head.twin is not None:
                taps["logits"] = scores.twin_logit(head, args[0], value_of)
            elif head.logit_is_input:
                taps["logits"] = args[0]
            else:
                taps["logits"] = out
        return out

    outputs = layers.walk(model, x, call)
    values = taps["logits"] if score == "logit" else outputs
    return taps["A"], values, outputs


class GradientBackend:
    """A backend that yields A and dS/dA; the method's math turns them into a map."""

    def gradients(self, x, classes):
        raise NotImplementedError

    def cam(self, x, classes, method):
        """(cam (N, h, w) before scaling, outputs, classes) of `method`."""
        A, G, outputs, chosen = self.gradients(x, classes)
        return methods.METHODS[method](A, G), outputs, chosen
