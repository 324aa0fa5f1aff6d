"""FullGrad (Srinivas & Fleuret 2019): the gradient of the score with respect to the input
times the input, plus, at every layer that adds a bias to a feature map, the bias times the
gradient there; each part rectified, scaled and upsampled to the input, then summed.

The parts are scaled as pytorch-grad-cam's FullGrad scales them: each channel of each part,
for each image, min-max scaled (with its 1e-7 guard) before it is resized to the input and
summed. The gradient with respect to a convolution's output before its fused activation is
read from after it: for relu (relu6) it passes where the output is above 0 (and below 6); a
convolution that fuses another activation is refused, since its input to the activation is not
at hand. No layer is chosen: FullGrad reads every biased layer (convolutions with a bias,
batch normalizations with their folded bias), and the map is at the input's resolution.
"""
import numpy as np

from cams.methods import resize
from cams.methods.spec import Maps, Method
from cams.methods.weighting import min_max

_PASSING = {"linear": lambda out: 1.0, "relu": lambda out: out > 0,
            "relu6": lambda out: (out > 0) & (out < 6)}


def scaled_channels(parts, size):
    """parts (N, h, w, K): each (image, channel) map min-max scaled, (m - min) / (1e-7 + max of
    m - min), bilinearly resized to size and summed over channels -> (N, H, W). Resizing is
    linear, so the scaled maps are summed first and resized once (a MobileNetV2 has some
    10,000 biased channels: one resize each took 0.7 s per 224-pixel image)."""
    total = min_max(parts, axes=(1, 2)).sum(axis=-1)
    if total.shape[1:] != tuple(size):
        total = resize.upsample(total, size)
    return total


def fullgrad(x, R, layers):
    """The FullGrad map (N, H, W) of images x with input gradients R, and layers: [(bias (K,),
    activation name, output (N, h, w, K), dS/d(output))] of every biased layer."""
    size = np.asarray(x).shape[1:3]
    total = scaled_channels(np.abs(np.asarray(R, np.float64) * np.asarray(x, np.float64)),
                            size)
    for bias, activation, out, grad in layers:
        before = np.asarray(grad, np.float64) * _PASSING[activation](np.asarray(out))
        total += scaled_channels(np.abs(bias * before), size)
    return min_max(total)


def run(backend, x, classes):
    """Maps of FullGrad from one backward pass to the input and every biased layer."""
    biases = backend.biases()
    fused = [(path, act) for path, _, act in biases if act not in _PASSING]
    if fused:
        path, act = fused[0]
        raise ValueError(f"fullgrad needs each biased layer's output before its activation; "
                         f"{path!r} fuses {act!r} (relu, relu6 or none can be read through)")
    R, outs, grads, outputs, chosen = backend.bias_gradients(x, classes)
    layers = [(b, act, o, g) for (_, b, act), o, g in zip(biases, outs, grads)]
    return Maps(fullgrad(x, R, layers), outputs, chosen)


METHOD = Method("fullgrad", 18, run,
                "input gradient times input plus every bias times its gradient",
                needs=("bias_gradients",), at_input=True)
