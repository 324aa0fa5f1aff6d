"""Faithfulness by perturbation: does the model's confidence follow what the map calls important?

Pixels are changed in the model's input space (the preprocessed images explain receives), so a
"removed" pixel takes the value `baseline` there.
"""
import cv2
import numpy as np

from cams.metrics.confidence import class_probability
from cams.methods.resize import upsample


def ranking(heatmap, size):
    """Pixel indices from most to least important (ties keep reading order)."""
    return np.argsort(-upsample(heatmap, size).astype(np.float32).ravel(), kind="stable")


def _blurred(image, sigma):
    return np.stack([cv2.GaussianBlur(image[..., c], (0, 0), sigma)
                     for c in range(image.shape[-1])], axis=-1)


def deletion_insertion(model, x, heatmaps, classes, steps=32, baseline=0.0, blur_sigma=None,
                       batch_size=64):
    """Deletion and insertion curves and AUCs (Petsiuk et al. 2018, RISE).

    Deletion sets the most important pixels to `baseline` first, insertion paints them onto a
    blurred copy first (blur_sigma defaults to 1/20 of the width); each of steps + 1 points is
    the class probability. A faithful map gives a low deletion AUC and a high insertion AUC.
    Returns {"deletion": (N,), "insertion": (N,), "deletion_curve": (N, steps + 1), ...}.
    """
    x = np.asarray(x, np.float32)
    n, H, W, C = x.shape
    sigma = blur_sigma or W / 20
    counts = np.round(np.linspace(0, H * W, steps + 1)).astype(int)
    curves = {"deletion": np.zeros((n, steps + 1)), "insertion": np.zeros((n, steps + 1))}
    for i in range(n):
        order = ranking(heatmaps[i], (H, W))
        image, start = x[i].reshape(-1, C), _blurred(x[i], sigma).reshape(-1, C)
        deleted, inserted = [], []
        for k in counts:
            d = image.copy()
            d[order[:k]] = baseline
            s = start.copy()
            s[order[:k]] = image[order[:k]]
            deleted.append(d.reshape(H, W, C))
            inserted.append(s.reshape(H, W, C))
        probs = class_probability(model, np.stack(deleted + inserted), classes[i], batch_size)
        curves["deletion"][i], curves["insertion"][i] = probs[:steps + 1], probs[steps + 1:]
    result = {name: np.trapezoid(curve, dx=1.0 / steps, axis=1) for name, curve in curves.items()}
    result.update({f"{name}_curve": curve for name, curve in curves.items()})
    return result


def confidence_change(model, x, heatmaps, classes, batch_size=64):
    """Average drop and increase in confidence (Chattopadhay et al. 2018) per image.

    The explanation map is the image times its heatmap (upsampled, in [0, 1]). With Y the class
    probability on the image and O on the explanation map: drop = max(0, Y - O) / Y, and
    increase = O > Y. Lower drop and more increases mean the map kept what the model uses.
    Returns {"drop": (N,), "increase": (N,) bool, "original": Y, "explained": O}.
    """
    x = np.asarray(x, np.float32)
    masks = upsample(heatmaps, x.shape[1:3]).astype(np.float32)[..., None]
    Y = class_probability(model, x, classes, batch_size)
    O = class_probability(model, x * masks, classes, batch_size)
    drop = np.maximum(0.0, Y - O) / np.maximum(Y, 1e-12)
    return {"drop": drop, "increase": O > Y, "original": Y, "explained": O}
