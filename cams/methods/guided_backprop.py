"""Guided backpropagation (Springenberg et al. 2015), at the input's resolution.

R (N, H, W, C) is the gradient of the score with respect to the input pixels where every ReLU
passes back only positive gradients at positive inputs.
"""
import numpy as np

from cams.methods.spec import Maps, Method


def saliency(R):
    """The per-pixel strength of attributions R (N, H, W, C): max over channels of |R|, (N, H, W)."""
    return np.abs(np.asarray(R, np.float64)).max(axis=-1)


def run(backend, x, classes):
    """Maps of guided backprop, with the signed attributions R."""
    R, outputs, chosen = backend.guided_gradients(x, classes)
    return Maps(saliency(R), outputs, chosen, np.asarray(R, np.float64))


METHOD = Method("guided-backprop", 8, run, "input gradient through positive-only ReLUs",
                needs=("guided_gradients",), at_input=True)
