"""Score-CAM (Wang et al. 2020): weigh each channel by the class score of the image it masks.

Channel k is upsampled to the input's size and min-max scaled to [0, 1]; the model then sees
x * mask_k, and the class score of that masked image is w_k. No gradients are involved.
"""
import numpy as np

from cams.methods import resize
from cams.methods.spec import Maps, Method, Option, one_of, positive_int, positive_int_or_none
from cams.methods.weighting import EIGEN_SMOOTH, combined

UPSAMPLING = ("bilinear", "align-corners")


def top_channels(A_i, top_k=None):
    """Indices of the top_k channels of one image's A (h, w, K) by spatial standard deviation
    (Faster Score-CAM), or every channel when top_k is None."""
    k = A_i.shape[-1]
    if top_k is None or top_k >= k:
        return np.arange(k)
    spread = A_i.reshape(-1, k).std(axis=0)
    return np.sort(np.argsort(-spread, kind="stable")[:top_k])


def channel_masks(A_i, size, upsampling="bilinear"):
    """A_i (h, w, k) upsampled to size=(H, W) and min-max scaled per channel: (k, H, W) float32.

    A constant channel carries no location and gets an all-zero mask (and weight 0); constancy
    is judged on A itself, since interpolation adds rounding noise to a flat map.
    """
    maps = np.moveaxis(np.asarray(A_i, np.float64), -1, 0)
    flat = (maps.max(axis=(1, 2)) == maps.min(axis=(1, 2)))[:, None, None]
    up = resize.upsample(maps, size, upsampling == "align-corners")
    low = up.min(axis=(1, 2), keepdims=True)
    span = up.max(axis=(1, 2), keepdims=True) - low
    live = ~flat & (span > 0)
    return np.divide(up - low, span, out=np.zeros_like(up), where=live).astype(np.float32)


def scorecam(A, x, classes, class_scores, top_k=None, masks_per_pass=32,
             upsampling="bilinear", eigen_smooth=False):
    """Score-CAM maps (N, h, w) before scaling.

    class_scores(images, classes) -> (M,) is the score of each masked image for its class (the
    class probability in the paper); masked images go through it masks_per_pass at a time.
    """
    A = np.asarray(A, np.float64)
    x = np.asarray(x, np.float32)
    n, h, w, _ = A.shape
    cams = np.zeros((n, h, w))
    for i in range(n):
        channels = top_channels(A[i], top_k)
        weights = np.zeros(len(channels))
        for start in range(0, len(channels), masks_per_pass):
            chunk = channels[start:start + masks_per_pass]
            masks = channel_masks(A[i][..., chunk], x.shape[1:3], upsampling)
            live = masks.reshape(len(chunk), -1).max(axis=1) > 0
            if live.any():
                masked = x[i][None] * masks[live][..., None]
                scores = class_scores(masked, np.full(int(live.sum()), classes[i], np.int32))
                weights[start:start + len(chunk)][live] = np.asarray(scores, np.float64)
        cams[i] = combined(A[i:i + 1][..., channels] * weights, eigen_smooth)[0]
    return cams


def run(backend, x, classes, top_k=None, masks_per_pass=32, upsampling="bilinear",
        eigen_smooth=False):
    """Maps of Score-CAM from the backend's forward pass and its class scores."""
    A, outputs, chosen = backend.forward(x, classes)
    cam = scorecam(A, x, chosen, backend.class_scores, top_k, masks_per_pass, upsampling,
                   eigen_smooth)
    return Maps(cam, outputs, chosen)


METHOD = Method(
    "scorecam", 6, run, "class probability of the image masked by each channel",
    needs=("forward", "class_scores"), score="probability",
    options={"top_k": Option(None, positive_int_or_none,
                             "Faster Score-CAM: only the k channels of largest spread"),
             "masks_per_pass": Option(32, positive_int, "masked images per forward pass"),
             "upsampling": Option("bilinear", one_of(*UPSAMPLING),
                                  "bilinear (half-pixel) or align-corners (tf-keras-vis)"),
             **EIGEN_SMOOTH})
