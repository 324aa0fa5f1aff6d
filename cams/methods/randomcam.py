"""Random-CAM (pytorch-grad-cam's RandomCAM): the activations weighted by random channel
weights, uniform in [-1, 1]. A baseline, not an explanation: a method that scores no better
than it on a trust metric has not shown that it explains the model.

The weights are drawn once per call from `seed` (NumPy's RandomState, K of them) and shared by
every image, so that a map does not depend on the batch it came in or on the class.
pytorch-grad-cam draws new weights for each image of each call from NumPy's global state.
"""
import numpy as np

from cams.methods.spec import Maps, Method, Option
from cams.methods.weighting import EIGEN_SMOOTH, weighted_sum


def _seed(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value < 2 ** 32:
        raise ValueError(f"{name} must be an int from 0 to 2**32 - 1; got {value!r}")


def channel_weights(channels, seed):
    """The K random channel weights of `seed`, uniform in [-1, 1]."""
    return np.random.RandomState(seed).uniform(-1, 1, size=channels)


def randomcam(A, seed=0, eigen_smooth=False):
    """relu(sum_k w_k A_k) for w = channel_weights(K, seed); (N, h, w, K) -> (N, h, w)."""
    A = np.asarray(A)
    weights = channel_weights(A.shape[-1], seed)
    return weighted_sum(A, np.broadcast_to(weights, (len(A), A.shape[-1])), eigen_smooth)


def run(backend, x, classes, seed=0, eigen_smooth=False):
    """Maps of Random-CAM from the backend's forward pass (the classes only name the
    outputs)."""
    A, outputs, chosen = backend.forward(x, classes)
    return Maps(randomcam(A, seed, eigen_smooth), outputs, chosen)


METHOD = Method("randomcam", 20, run,
                "random channel weights: the baseline a method must beat (no class)",
                needs=("forward",),
                options={"seed": Option(0, _seed, "the weights' random seed"), **EIGEN_SMOOTH},
                class_specific=False)
