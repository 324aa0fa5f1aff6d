"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times Grad-CAM upsampled to the input."""
import numpy as np

from cams.methods import resize
from cams.methods.gradcam import gradcam
from cams.methods.guided_backprop import saliency
from cams.methods.spec import Maps, Method


def guided_gradcam(R, cam):
    """(map (N, H, W), attributions (N, H, W, C)): R times Grad-CAM upsampled to the input."""
    R = np.asarray(R, np.float64)
    up = resize.upsample(cam, R.shape[1:3])
    attributions = R * up[..., None]
    return saliency(attributions), attributions


def run(backend, x, classes):
    """Maps of guided Grad-CAM: Grad-CAM's pass, then guided backprop for the same classes."""
    A, G, outputs, chosen = backend.gradients(x, classes)
    R, _, _ = backend.guided_gradients(x, chosen)
    cam, attributions = guided_gradcam(R, gradcam(A, G))
    return Maps(cam, outputs, chosen, attributions)


METHOD = Method("guided-gradcam", 9, run, "guided backprop times upsampled Grad-CAM",
                needs=("gradients", "guided_gradients"), at_input=True)
