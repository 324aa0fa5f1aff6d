"""Guided backpropagation (Springenberg et al. 2015) and guided Grad-CAM (Selvaraju et al. 2017).

Both live at the input's resolution. R (N, H, W, C) is the gradient of the score with respect to
the input pixels where every ReLU passes back only positive gradients at positive inputs.
"""
import numpy as np

from cams.methods import resize


def saliency(R):
    """The per-pixel strength of attributions R (N, H, W, C): max over channels of |R|, (N, H, W)."""
    return np.abs(np.asarray(R, np.float64)).max(axis=-1)


def guided_gradcam(R, cam):
    """(map (N, H, W), attributions (N, H, W, C)): R times Grad-CAM upsampled to the input."""
    R = np.asarray(R, np.float64)
    up = resize.upsample(cam, R.shape[1:3])
    attributions = R * up[..., None]
    return saliency(attributions), attributions
