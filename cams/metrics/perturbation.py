"""Faithfulness by perturbation: does the model's confidence follow what the map calls important?

Pixels are changed in the model's input space (the preprocessed images explain receives), so a
"removed" pixel takes the value `baseline` there.
"""
import cv2
import numpy as np

from cams.metrics.confidence import class_probability, class_probability_of_blocks
from cams.methods.resize import upsample


def ranking(heatmap, size):
    """Pixel indices from most to least important (ties keep reading order)."""
    return np.argsort(-upsample(heatmap, size).astype(np.float32).ravel(), kind="stable")


def _upsampled(heatmaps, size):
    """Heatmaps (N, h, w) at size (H, W) as float32 multipliers (N, H, W, 1)."""
    return upsample(heatmaps, size).astype(np.float32)[..., None]


def _blurred(image, sigma):
    return np.stack([cv2.GaussianBlur(image[..., c], (0, 0), sigma)
                     for c in range(image.shape[-1])], axis=-1)


def deletion_insertion(model, x, heatmaps, classes, steps=32, baseline=0.0, blur_sigma=None,
                       batch_size=64):
    """Deletion and insertion curves and AUCs (Petsiuk et al. 2018, RISE).

    Deletion sets the most important pixels to `baseline` first, insertion paints them onto a
    blurred copy first (blur_sigma defaults to 1/20 of the width); each of steps + 1 points is
    the class probability. A faithful map gives a low deletion AUC and a high insertion AUC.
    Every image's 2 (steps + 1) perturbed copies go through the model batch_size at a time,
    across images. Returns {"deletion": (N,), "insertion": (N,), "deletion_curve":
    (N, steps + 1), "insertion_curve": (N, steps + 1)}.
    """
    x = np.asarray(x, np.float32)
    n, H, W, _ = x.shape
    sigma = blur_sigma or W / 20
    counts = np.round(np.linspace(0, H * W, steps + 1)).astype(int)
    classes = np.broadcast_to(np.asarray(classes), (n,))
    blocks = ((perturbed(x[i], _blurred(x[i], sigma), ranking(heatmaps[i], (H, W)), counts,
                         baseline), classes[i]) for i in range(n))
    probs = class_probability_of_blocks(model, blocks, batch_size).reshape(n, 2, steps + 1)
    curves = {"deletion": probs[:, 0].astype(np.float64),
              "insertion": probs[:, 1].astype(np.float64)}
    result = {name: np.trapezoid(curve, dx=1.0 / steps, axis=1) for name, curve in curves.items()}
    result.update({f"{name}_curve": curve for name, curve in curves.items()})
    return result


def perturbed(image, start, order, counts, baseline=0.0):
    """The deletion and insertion copies of one image (H, W, C), (2 len(counts), H, W, C):
    first `image` with its first counts[j] pixels of `order` set to `baseline`, then `start`
    (the blurred image) with those pixels taken from `image`."""
    H, W, C = image.shape
    rank = np.empty(H * W, int)
    rank[order] = np.arange(H * W)                      # each pixel's place in the order
    gone = (rank[None, :] < np.asarray(counts)[:, None])[..., None]  # (steps, H * W, 1)
    pixels = image.reshape(1, H * W, C)
    deleted = np.where(gone, np.float32(baseline), pixels)
    inserted = np.where(gone, pixels, start.reshape(1, H * W, C))
    return np.concatenate([deleted, inserted]).reshape(-1, H, W, C)


def confidence_change(model, x, heatmaps, classes, batch_size=64):
    """Average drop and increase in confidence (Chattopadhay et al. 2018) per image.

    The explanation map is the image times its heatmap (upsampled, in [0, 1]). With Y the class
    probability on the image and O on the explanation map: drop = max(0, Y - O) / Y, and
    increase = O > Y. Lower drop and more increases mean the map kept what the model uses.
    Returns {"drop": (N,), "increase": (N,) bool, "original": Y, "explained": O}.
    """
    x = np.asarray(x, np.float32)
    classes = np.broadcast_to(np.asarray(classes), (len(x),))
    Y = class_probability(model, x, classes, batch_size)
    explained = ((x[i:i + batch_size] * _upsampled(heatmaps[i:i + batch_size], x.shape[1:3]),
                  classes[i:i + batch_size]) for i in range(0, len(x), batch_size))
    O = class_probability_of_blocks(model, explained, batch_size)
    drop = np.maximum(0.0, Y - O) / np.maximum(Y, 1e-12)
    return {"drop": drop, "increase": O > Y, "original": Y, "explained": O}
