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
