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


def reference_probabilities(model, x, classes, baseline=0.0, blur_sigma=None, batch_size=32):
    """The class probabilities that no heatmap changes, shared by every map of the same images:
    {"original": (N,) of each image (where deletion starts and insertion ends, and the
    confidence change's Y), "baseline": (N,) of the image with every pixel at `baseline`
    (where deletion ends), "blurred": (N,) of its blurred copy (where insertion starts), and
    the settings they hold for: "baseline_value", "blur_sigma" (default 1/20 of the width)}."""
    x = np.asarray(x, np.float32)
    n, _, W, _ = x.shape
    sigma = blur_sigma or W / 20
    classes = np.broadcast_to(np.asarray(classes), (n,))
    blocks = ((np.stack([x[i], np.full_like(x[i], baseline), _blurred(x[i], sigma)]),
               classes[i]) for i in range(n))
    probs = class_probability_of_blocks(model, blocks, batch_size).reshape(n, 3)
    return {"original": probs[:, 0], "baseline": probs[:, 1], "blurred": probs[:, 2],
            "baseline_value": float(baseline), "blur_sigma": float(sigma)}


def _checked(reference, n, baseline=None, sigma=None):
    """`reference` when it holds for n images (and this baseline and blur); else ValueError."""
    if len(reference["original"]) != n:
        raise ValueError(f"the reference probabilities are of {len(reference['original'])} "
                         f"images, the metric was given {n}")
    wanted = {"baseline_value": baseline, "blur_sigma": sigma}
    for key, value in wanted.items():
        if value is not None and reference[key] != float(value):
            raise ValueError(f"the reference probabilities were computed with {key} "
                             f"{reference[key]}, the metric was asked for {value}")
    return reference


def deletion_insertion(model, x, heatmaps, classes, steps=32, baseline=0.0, blur_sigma=None,
                       batch_size=32, reference=None):
    """Deletion and insertion curves and AUCs (Petsiuk et al. 2018, RISE).

    Deletion sets the most important pixels to `baseline` first, insertion paints them onto a
    blurred copy first (blur_sigma defaults to 1/20 of the width); each of steps + 1 points is
    the class probability. A faithful map gives a low deletion AUC and a high insertion AUC.
    The curves' ends do not depend on the map (the image, the all-baseline image, the blurred
    image): `reference` gives them when several maps of x are scored
    (reference_probabilities(model, x, classes, baseline, blur_sigma)); None computes them.
    The other 2 (steps - 1) perturbed copies of every image go through the model batch_size
    at a time, across images. Returns {"deletion": (N,), "insertion": (N,), "deletion_curve":
    (N, steps + 1), "insertion_curve": (N, steps + 1)}.
    """
    x = np.asarray(x, np.float32)
    n, H, W, C = x.shape
    sigma = blur_sigma or W / 20
    if reference is None:
        reference = reference_probabilities(model, x, classes, baseline, sigma, batch_size)
    reference = _checked(reference, n, baseline, sigma)
    inner = np.round(np.linspace(0, H * W, steps + 1)).astype(int)[1:-1]
    classes = np.broadcast_to(np.asarray(classes), (n,))
    out = np.empty((2 * len(inner), H, W, C), np.float32)    # reused image after image
    blocks = ((perturbed(x[i], _blurred(x[i], sigma), ranking(heatmaps[i], (H, W)), inner,
                         baseline, out), classes[i]) for i in range(n))
    probs = class_probability_of_blocks(model, blocks, batch_size).reshape(n, 2, len(inner))
    curves = {"deletion": np.column_stack([reference["original"], probs[:, 0],
                                           reference["baseline"]]).astype(np.float64),
              "insertion": np.column_stack([reference["blurred"], probs[:, 1],
                                            reference["original"]]).astype(np.float64)}
    result = {name: np.trapezoid(curve, dx=1.0 / steps, axis=1) for name, curve in curves.items()}
    result.update({f"{name}_curve": curve for name, curve in curves.items()})
    return result


def perturbed(image, start, order, counts, baseline=0.0, out=None):
    """The deletion and insertion copies of one image (H, W, C), (2 len(counts), H, W, C)
    float32: first `image` with its first counts[j] pixels of `order` set to `baseline`, then
    `start` (the blurred image) with those pixels taken from `image`. Written into `out` when
    given (a float32 array of that shape), which is returned."""
    H, W, C = image.shape
    steps = len(counts)
    if out is None:
        out = np.empty((2 * steps, H, W, C), np.float32)
    rank = np.empty(H * W, np.intp)
    rank[order] = np.arange(H * W)                      # each pixel's place in the order
    gone = (rank[None, :] < np.asarray(counts)[:, None]).reshape(steps, H, W, 1)
    deleted, inserted = out[:steps], out[steps:]
    deleted[...] = image
    np.copyto(deleted, np.float32(baseline), where=gone)
    inserted[...] = start
    np.copyto(inserted, np.asarray(image, np.float32), where=gone)
    return out


def confidence_change(model, x, heatmaps, classes, batch_size=32, reference=None):
    """Average drop and increase in confidence (Chattopadhay et al. 2018) per image.

    The explanation map is the image times its heatmap (upsampled, in [0, 1]). With Y the class
    probability on the image and O on the explanation map: drop = max(0, Y - O) / Y, and
    increase = O > Y. Lower drop and more increases mean the map kept what the model uses.
    Y does not depend on the map: `reference` (reference_probabilities of x) gives it when
    several maps of x are scored; None computes it.
    Returns {"drop": (N,), "increase": (N,) bool, "original": Y, "explained": O}.
    """
    x = np.asarray(x, np.float32)
    classes = np.broadcast_to(np.asarray(classes), (len(x),))
    Y = (_checked(reference, len(x))["original"] if reference is not None
         else class_probability(model, x, classes, batch_size))
    explained = ((x[i:i + batch_size] * _upsampled(heatmaps[i:i + batch_size], x.shape[1:3]),
                  classes[i:i + batch_size]) for i in range(0, len(x), batch_size))
    O = class_probability_of_blocks(model, explained, batch_size)
    drop = np.maximum(0.0, Y - O) / np.maximum(Y, 1e-12)
    return {"drop": drop, "increase": O > Y, "original": Y, "explained": O}
