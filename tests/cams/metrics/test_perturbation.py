"""Deletion/insertion and average drop/increase on a model whose evidence region is known."""
import cv2
import numpy as np
import pytest

import cams
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


def per_image_deletion_insertion(model, x, heatmaps, classes, steps, baseline, sigma):
    """The oracle: each image's deletion and insertion copies built one at a time, by index
    assignment, and scored in their own call (as cams did before it batched them)."""
    n, H, W, C = x.shape
    counts = np.round(np.linspace(0, H * W, steps + 1)).astype(int)
    curves = np.zeros((n, 2, steps + 1))
    for i in range(n):
        order = np.argsort(-cams.upsample(heatmaps[i], (H, W)).astype(np.float32).ravel(),
                           kind="stable")
        image = x[i].reshape(-1, C)
        start = cv2.GaussianBlur(x[i][..., 0], (0, 0), sigma).reshape(-1, C)
        copies = []
        for k in counts:
            d, s = image.copy(), start.copy()
            d[order[:k]] = baseline
            s[order[:k]] = image[order[:k]]
            copies += [d, s]
        probs = metrics.class_probability(model, np.stack(copies).reshape(-1, H, W, C),
                                          classes[i])
        curves[i] = probs.reshape(steps + 1, 2).T
    return curves


def test_batched_curves_equal_the_per_image_computation(setting):
    """Copies of several images share forward passes (batch_size 7 cuts through images); every
    point of every curve is what scoring each image's copies alone gives."""
    model, x, truth = setting
    rng = np.random.default_rng(5)
    images = np.clip(x + rng.normal(0, 0.1, (5,) + x.shape[1:]), 0, 1).astype(np.float32)
    heatmaps = rng.uniform(size=(5, 4, 4))
    heatmaps[0] = cv2.resize(truth, (4, 4), interpolation=cv2.INTER_AREA)
    classes = [1, 0, 1, 1, 0]
    got = metrics.deletion_insertion(model, images, heatmaps, classes, steps=6, baseline=0.1,
                                     blur_sigma=1.5, batch_size=7)
    want = per_image_deletion_insertion(model, images, heatmaps, classes, 6, 0.1, 1.5)
    assert want.std(axis=2).min() > 0.01               # every curve moves: not a constant
    np.testing.assert_allclose(got["deletion_curve"], want[:, 0], atol=1e-6)
    np.testing.assert_allclose(got["insertion_curve"], want[:, 1], atol=1e-6)


def test_average_drop_in_blocks_equals_one_image_at_a_time(setting):
    model, x, _ = setting
    rng = np.random.default_rng(6)
    images = np.clip(x + rng.normal(0, 0.1, (5,) + x.shape[1:]), 0, 1).astype(np.float32)
    heatmaps, classes = rng.uniform(size=(5, 3, 3)), [1, 0, 1, 0, 1]
    got = metrics.confidence_change(model, images, heatmaps, classes, batch_size=2)
    for i in range(5):
        one = metrics.confidence_change(model, images[i:i + 1], heatmaps[i:i + 1], classes[i])
        np.testing.assert_allclose(got["drop"][i], one["drop"][0], atol=1e-6)
        np.testing.assert_allclose(got["explained"][i], one["explained"][0], atol=1e-6)
    assert got["drop"].max() > 0.05 and got["increase"].any()


def test_a_shared_reference_gives_what_each_map_computed_alone_gives(setting):
    """The curves' ends and the average drop's Y, computed once for the images and shared by
    two maps, give each map's curves as the per-image computation does, and its drop as
    confidence_change alone does."""
    model, x, truth = setting
    rng = np.random.default_rng(8)
    images = np.clip(x + rng.normal(0, 0.1, (3,) + x.shape[1:]), 0, 1).astype(np.float32)
    classes = [1, 0, 1]
    reference = metrics.reference_probabilities(model, images, classes, 0.1, 1.5, batch_size=2)
    drops = []
    np.testing.assert_allclose(reference["original"],
                               metrics.class_probability(model, images, classes), atol=1e-6)
    for heatmaps in (rng.uniform(size=(3, 4, 4)), np.stack([truth, 1 - truth, truth])):
        got = metrics.deletion_insertion(model, images, heatmaps, classes, steps=5, baseline=0.1,
                                         blur_sigma=1.5, batch_size=4, reference=reference)
        want = per_image_deletion_insertion(model, images, heatmaps, classes, 5, 0.1, 1.5)
        assert want[:, :, [0, -1]].std() > 0.01 and want.std(axis=2).min() > 0.01
        np.testing.assert_allclose(got["deletion_curve"], want[:, 0], atol=1e-6)
        np.testing.assert_allclose(got["insertion_curve"], want[:, 1], atol=1e-6)
        shared = metrics.confidence_change(model, images, heatmaps, classes, reference=reference)
        alone = metrics.confidence_change(model, images, heatmaps, classes)
        np.testing.assert_allclose(shared["drop"], alone["drop"], atol=1e-6)
        np.testing.assert_array_equal(shared["increase"], alone["increase"])
        drops.append(alone["drop"])
    assert np.max(drops) > 0.05


def test_a_reference_for_other_settings_or_images_is_refused(setting):
    model, x, truth = setting
    reference = metrics.reference_probabilities(model, x, [1], baseline=0.0, blur_sigma=2.0)
    with pytest.raises(ValueError, match="baseline_value 0.0, the metric was asked for 0.5"):
        metrics.deletion_insertion(model, x, truth[None], [1], baseline=0.5, blur_sigma=2.0,
                                   reference=reference)
    with pytest.raises(ValueError, match="blur_sigma"):
        metrics.deletion_insertion(model, x, truth[None], [1], reference=reference)
    with pytest.raises(ValueError, match="of 1 images, the metric was given 2"):
        metrics.confidence_change(model, np.concatenate([x, x]), np.stack([truth] * 2), [1, 1],
                                  reference=reference)
