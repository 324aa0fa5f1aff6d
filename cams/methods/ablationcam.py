"""Ablation-CAM (Desai & Ramaswamy 2020): weigh each channel by how much the class score falls
when that channel is zeroed at the target layer, w_k = (y - y_k) / y; no gradients.

Each channel is zeroed in its own copy of the image, `masks_per_pass` copies per forward
pass, as the paper does. A channel that is zero everywhere changes nothing when zeroed (its
weight would multiply zeros), so it is not run. `top_k` ablates only the k channels of largest
spatial spread, as Faster Score-CAM chooses them (the others weigh 0, as pytorch-grad-cam's
`ratio_channels_to_ablate` leaves them). pytorch-grad-cam zeroes too where the layer's
smallest value is 0, but sets a channel to (smallest value - 1e7) at a layer with negative
values; cams always zeroes, the paper's ablation.
"""
import numpy as np

from cams.methods.scorecam import top_channels
from cams.methods.spec import Maps, Method, Option, positive_int, positive_int_or_none
from cams.methods.weighting import EIGEN_SMOOTH, safe_divide, weighted_sum


def ablation_weights(A_i, score, ablated_scores, masks_per_pass=32, top_k=None):
    """w (K,) of one image: (score - the score with channel k zeroed) / score, from
    ablated_scores(keep (M, K)) -> (M,) scores of the image with channels scaled by keep; 0 for
    the channels not ablated (zero everywhere, or outside the top_k)."""
    k = A_i.shape[-1]
    live = np.flatnonzero(np.abs(A_i).reshape(-1, k).max(axis=0) > 0)
    live = np.intersect1d(live, top_channels(A_i, top_k))
    fallen = np.zeros(k)
    for start in range(0, len(live), masks_per_pass):
        chunk = live[start:start + masks_per_pass]
        keep = np.ones((len(chunk), k), np.float32)
        keep[np.arange(len(chunk)), chunk] = 0.0
        fallen[chunk] = score - np.asarray(ablated_scores(keep), np.float64)
    return safe_divide(fallen, np.full(k, float(score)))


def run(backend, x, classes, masks_per_pass=32, top_k=None, eigen_smooth=False):
    """Maps of Ablation-CAM: one forward pass for A and the scores, then one pass per
    masks_per_pass live channels of each image."""
    A, outputs, chosen = backend.forward(x, classes)
    chosen = np.asarray(chosen, np.int32)
    scores = np.asarray(backend.class_scores(x, chosen), np.float64)
    weights = np.stack([
        ablation_weights(A[i], scores[i], lambda keep, i=i: backend.ablated_scores(
            np.repeat(x[i:i + 1], len(keep), axis=0), np.full(len(keep), chosen[i], np.int32),
            keep), masks_per_pass, top_k) for i in range(len(x))])
    return Maps(weighted_sum(A, weights, eigen_smooth), outputs, chosen)


METHOD = Method("ablationcam", 16, run, "fall of the class score when each channel is zeroed",
                needs=("forward", "class_scores", "ablated_scores"),
                options={"masks_per_pass": Option(32, positive_int,
                                                  "ablated copies per forward pass"),
                         "top_k": Option(None, positive_int_or_none,
                                         "only the k channels of largest spread"),
                         **EIGEN_SMOOTH})
