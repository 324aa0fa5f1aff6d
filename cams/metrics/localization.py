"""Does a heatmap point at the truth? Localization against a ground-truth mask."""
import numpy as np
from scipy.stats import rankdata

from cams.methods.resize import upsample


def _heat_and_mask(heatmap, mask, metric):
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError(f"the mask is empty: {metric} needs a lesion to point at")
    return upsample(heatmap, mask.shape).astype(np.float32), mask


def pointing_game(heatmap, mask):
    """1.0 if the heatmap's maximum (upsampled to the mask's size) lies inside the mask, else 0."""
    heat, mask = _heat_and_mask(heatmap, mask, "the pointing game")
    if heat.max() <= 0:
        return 0.0
    return float(mask[np.unravel_index(np.argmax(heat), heat.shape)])


def energy_in_mask(heatmap, mask):
    """Share of the heatmap's total (upsampled to the mask's size) that falls inside the mask:
    the energy-based pointing game (Wang et al. 2020), Quantus' relevance mass accuracy (Arras
    et al. 2022) for a map that is not negative."""
    mask = np.asarray(mask, bool)
    heat = np.clip(upsample(heatmap, mask.shape).astype(np.float32), 0, None)
    total = heat.sum()
    return float(heat[mask].sum() / total) if total > 0 else 0.0


def rank_accuracy(heatmap, mask):
    """Relevance rank accuracy (Arras et al. 2022): of the K pixels the map ranks highest, K
    the mask's size, the share inside the mask (ties in reading order). 1 when the map's top
    is the mask exactly."""
    heat, mask = _heat_and_mask(heatmap, mask, "rank accuracy")
    k = int(mask.sum())
    top = np.argsort(-heat.ravel(), kind="stable")[:k]
    return float(mask.ravel()[top].mean())


def mask_auc(heatmap, mask):
    """The area under the ROC curve of the map's values as a score for "inside the mask"
    (Fawcett 2006, as Quantus' AUC): the chance that a random mask pixel is hotter than a
    random pixel outside it, ties counting half. 0.5 for a map that ignores the mask."""
    heat, mask = _heat_and_mask(heatmap, mask, "the AUC")
    inside = int(mask.sum())
    outside = mask.size - inside
    if outside == 0:
        raise ValueError("the mask covers the whole image: the AUC needs pixels outside it")
    ranks = rankdata(heat.ravel())                     # ties share their mean rank
    return float((ranks[mask.ravel()].sum() - inside * (inside + 1) / 2) / (inside * outside))
