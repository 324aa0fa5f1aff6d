"""Localization metrics against a ground-truth mask."""
import numpy as np
import pytest

from cams import metrics


def test_pointing_game_hits_and_misses():
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True
    hit = np.zeros((2, 2))
    hit[0, 0] = 1.0
    miss = np.zeros((2, 2))
    miss[1, 1] = 1.0
    assert metrics.pointing_game(hit, mask) == 1.0
    assert metrics.pointing_game(miss, mask) == 0.0
    assert metrics.pointing_game(np.zeros((2, 2)), mask) == 0.0  # an empty map points nowhere


def test_energy_in_mask():
    mask = np.zeros((4, 4), bool)
    mask[:, :2] = True
    heat = np.zeros((4, 4))
    heat[:, 0] = 3.0
    heat[:, 3] = 1.0
    assert metrics.energy_in_mask(heat, mask) == pytest.approx(0.75)
    assert metrics.energy_in_mask(np.zeros((4, 4)), mask) == 0.0


def test_heatmap_is_upsampled_to_the_mask():
    mask = np.zeros((224, 224), bool)
    mask[150:200, 150:200] = True
    heat = np.zeros((7, 7))
    heat[5, 5] = 1.0
    assert metrics.pointing_game(heat, mask) == 1.0
    assert metrics.energy_in_mask(heat, mask) > 0.5


def test_empty_mask_is_refused():
    with pytest.raises(ValueError, match="mask is empty"):
        metrics.pointing_game(np.ones((2, 2)), np.zeros((4, 4), bool))


def test_rank_accuracy_counts_the_maps_top_k_inside_the_mask():
    """A 3-pixel mask; the map's three hottest pixels are two inside and one outside: 2/3."""
    from cams.metrics import rank_accuracy

    mask = np.zeros((4, 4), bool)
    mask[0, :3] = True
    heat = np.zeros((4, 4))
    heat[0, 0], heat[0, 1], heat[3, 3], heat[0, 2] = 0.9, 0.8, 0.85, 0.1
    assert rank_accuracy(heat, mask) == pytest.approx(2 / 3)
    heat[3, 3] = 0.05                   # now the top three are the mask
    assert rank_accuracy(heat, mask) == 1.0


def test_mask_auc_equals_scikit_learns_roc_auc_ties_included():
    from sklearn.metrics import roc_auc_score

    from cams.metrics import mask_auc

    rng = np.random.default_rng(4)
    mask = np.zeros((16, 16), bool)
    mask[3:9, 5:12] = True
    heat = np.round(rng.uniform(size=(16, 16)) + 0.4 * mask, 1)   # rounded: many ties
    assert mask_auc(heat, mask) == pytest.approx(roc_auc_score(mask.ravel(), heat.ravel()),
                                                 abs=1e-12)
    # by hand: inside {2, 1}, outside {1, 0}: pairs (2>1, 2>0, 1=1, 1>0) = 3.5 / 4
    assert mask_auc(np.array([[2.0, 1.0], [1.0, 0.0]]), np.array([[1, 1], [0, 0]], bool)) == \
        pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="whole image"):
        mask_auc(heat, np.ones((16, 16), bool))
    with pytest.raises(ValueError, match="empty"):
        mask_auc(heat, np.zeros((16, 16), bool))
