"""Choose the Grad-CAM layer that best points at known lesions (model selection on validation)."""
import keras
import numpy as np

import cams
from cams import metrics

_BLOCK_ENDS = (keras.layers.ReLU, keras.layers.Activation, keras.layers.Add)


def candidates(model, min_side=7):
    """Activation and residual-sum layers (convs where activations are fused) whose map is at
    least min_side cells wide."""
    spatial = set(cams.conv_layers(model))
    usable = [leaf for leaf in cams.leaves(model) if leaf.path in spatial
              and (leaf.shape[1] is None or leaf.shape[1] >= min_side)]
    ends = [leaf.path for leaf in usable if isinstance(leaf.layer, _BLOCK_ENDS)]
    return ends or [leaf.path for leaf in usable if isinstance(leaf.layer, keras.layers.Conv2D)]


def score_layers(model, x, masks, classes, paths, batch_size=32):
    """{path: (pointing game, energy in mask)} of Grad-CAM for `classes` on images with masks."""
    table = {}
    for path in paths:
        res = cams.explain(model, x, layer=path, class_index=[int(c) for c in classes],
                           batch_size=batch_size)
        hits = [metrics.pointing_game(heat, mask) for heat, mask in zip(res.heatmaps, masks)]
        energy = [metrics.energy_in_mask(heat, mask) for heat, mask in zip(res.heatmaps, masks)]
        table[path] = (float(np.mean(hits)), float(np.mean(energy)))
        cams.forget(model)  # one compiled function per layer is enough to keep
    return table


def choose(model, x, masks, classes, paths=None):
    """(best layer path, table): highest pointing game, ties broken by energy in mask."""
    paths = paths or candidates(model)
    table = score_layers(model, x, masks, classes, paths)
    best = max(table, key=lambda p: table[p])
    return best, table
