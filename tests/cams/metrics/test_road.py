"""ROAD's noisy linear imputation and its MoRF/LeRF curves."""
import numpy as np
import pytest

from cams import metrics
from tests.cams.metrics import region_model


def test_imputation_continues_a_smooth_image_and_keeps_the_rest():
    ramp = np.tile(np.linspace(0, 1, 30)[None, :, None], (20, 1, 2))
    ramp[..., 1] *= 2
    removed = np.zeros((20, 30), bool)
    removed[5:15, 8:22] = True
    filled = metrics.impute(ramp, removed, noise=0.0)
    np.testing.assert_allclose(filled, ramp, atol=1e-9)
    removed[0, 0] = True                                 # a corner: the mean of 3 neighbours
    corner = metrics.impute(ramp, removed, noise=0.0)[0, 0]
    np.testing.assert_allclose(corner, (ramp[0, 1] / 6 + ramp[1, 0] / 6 + ramp[1, 1] / 12) / (5 / 12))
    noisy = metrics.impute(ramp, removed, noise=0.05, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(noisy[~removed], ramp[~removed])
    residual = (noisy - ramp)[removed]
    assert residual.std() == pytest.approx(0.05 * 2, rel=0.15)   # noise scales with the range


def test_imputation_refuses_an_image_with_nothing_left():
    with pytest.raises(ValueError, match="every pixel"):
        metrics.impute(np.ones((4, 4, 1)), np.ones((4, 4), bool))


def test_road_gap_is_large_for_the_true_region_and_negative_for_its_opposite():
    model = region_model.build()
    x = region_model.image()
    truth = region_model.region().astype(np.float32)
    good = metrics.road(model, x, truth[None], [1], percentages=(20, 40))
    bad = metrics.road(model, x, (1 - truth)[None], [1], percentages=(20, 40))
    assert good["morf"].shape == (1, 2)
    assert good["gap"][0] > 0.05 and bad["gap"][0] < 0
