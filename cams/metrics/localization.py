"""Does a heatmap point at the truth? Localization against a ground-truth mask."""
import numpy as np

from cams.methods.resize import upsample


def pointing_game(heatmap, mask):
    """1.0 if the heatmap's maximum (upsampled to the mask's size) lies inside the mask, else 0."""
    mask = np.asarray(mask, bool)
    heat = upsample(heatmap, mask.shape).astype(np.float32)
    if not mask.any():
        raise ValueError("the mask is empty: the pointing game needs a lesion to point at")
    if heat.max() <= 0:
        return 0.0
    return float(mask[np.unravel_index(np.argmax(heat), heat.shape)])


def energy_in_mask(heatmap, mask):
    """Share of the heatmap's total (upsampled to the mask's size) that falls inside the mask."""
    mask = np.asarray(mask, bool)
    heat = np.clip(upsample(heatmap, mask.shape).astype(np.float32), 0, None)
    total = heat.sum()
    return float(heat[mask].sum() / total) if total > 0 else 0.0
