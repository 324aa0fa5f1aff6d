"""Deletion/insertion and average drop/increase on a model whose evidence region is known."""
import numpy as np
import pytest

from cams import metrics
from tests.cams.metrics import region_model


@pytest.fixture(scope="module")
def setting():
    model = region_model.build()
    truth = region_model.region().astype(np.float32)
    return model, region_model.image(), truth


def test_deletion_and_insertion_reward_the_true_region(setting):
    model, x, truth = setting
    good = metrics.deletion_insertion(model, x, truth[None], [1], steps=12, blur_sigma=3)
    bad = metrics.deletion_insertion(model, x, (1 - truth)[None], [1], steps=12, blur_sigma=3)
    assert good["deletion"][0] < bad["deletion"][0] - 0.1
    assert good["insertion"][0] > bad["insertion"][0] + 0.1


def test_curves_start_and_end_where_they_must(setting):
    model, x, truth = setting
    res = metrics.deletion_insertion(model, x, truth[None], [1], steps=8, baseline=0.0,
                                     blur_sigma=2.0)
    p = region_model.probability
    np.testing.assert_allclose(res["deletion_curve"][0, 0], p(x)[0], rtol=1e-5)
    np.testing.assert_allclose(res["deletion_curve"][0, -1], p(np.zeros_like(x))[0], rtol=1e-5)
    np.testing.assert_allclose(res["insertion_curve"][0, -1], p(x)[0], rtol=1e-5)
    assert res["deletion_curve"].shape == (1, 9)
    np.testing.assert_allclose(res["deletion"], np.trapezoid(res["deletion_curve"], dx=1 / 8))


def test_average_drop_and_increase_by_hand(setting):
    model, x, truth = setting
    p = region_model.probability
    keep_all = metrics.confidence_change(model, x, np.ones((1, 12, 12)), [1])
    assert keep_all["drop"][0] == pytest.approx(0, abs=1e-6) and not keep_all["increase"][0]
    half = np.full((1, 12, 12), 0.5)
    res = metrics.confidence_change(model, x, half, [1])
    Y, O = p(x)[0], p(x * 0.5)[0]
    assert res["drop"][0] == pytest.approx((Y - O) / Y, rel=1e-4)
    # Class 0's probability rises when the region is dimmed: an increase, no drop.
    res0 = metrics.confidence_change(model, x, half, [0])
    assert res0["increase"][0] and res0["drop"][0] == 0
