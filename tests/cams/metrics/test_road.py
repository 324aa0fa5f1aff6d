"""ROAD's noisy linear imputation and its MoRF/LeRF curves."""
import importlib

import numpy as np
import pytest

import cams
from cams import metrics
from tests.cams.metrics import region_model

road_module = importlib.import_module("cams.metrics.road")  # cams.metrics.road is the function


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


def dense_imputation(image, removed):
    """The oracle: ROAD's equations written pixel by pixel and solved densely. Each removed
    pixel times the sum of its in-image neighbours' weights equals the weighted sum of those
    neighbours (edge 1/6, corner 1/12), known ones on the right-hand side."""
    H, W, C = image.shape
    unknown = list(zip(*np.nonzero(removed)))
    at = {p: k for k, p in enumerate(unknown)}
    A, b = np.zeros((len(unknown), len(unknown))), np.zeros((len(unknown), C))
    for k, (y, x) in enumerate(unknown):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if (dy, dx) == (0, 0) or not (0 <= ny < H and 0 <= nx < W):
                    continue
                weight = 1 / 12 if dy and dx else 1 / 6
                A[k, k] += weight
                if (ny, nx) in at:
                    A[k, at[ny, nx]] -= weight
                else:
                    b[k] += weight * image[ny, nx]
    filled = image.copy()
    filled[removed] = np.linalg.solve(A, b)
    return filled


def test_imputation_solves_the_neighbour_equations():
    """Holes of every shape (blobs, a border strip, scattered pixels) on a textured image."""
    rng = np.random.default_rng(3)
    image = rng.uniform(-1, 1, (23, 31, 3))
    removed = rng.uniform(size=(23, 31)) < 0.3
    removed[4:15, 6:25] = True
    removed[:, -2:] = True
    filled = metrics.impute(image, removed, noise=0.0)
    np.testing.assert_allclose(filled, dense_imputation(image, removed), atol=1e-10)
    assert filled[removed].std() > 0.1                   # not a constant fill


def test_dissection_order_is_a_permutation_with_each_cut_last():
    rng = np.random.default_rng(4)
    ys, xs = np.nonzero(rng.uniform(size=(40, 50)) < 0.6)
    order = road_module.dissection_order(ys, xs, leaf=16)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(ys)))
    # the first cut (the middle column of the bounding box) comes after both halves
    middle = (xs.min() + xs.max()) // 2
    np.testing.assert_array_equal(np.sort(order[-(xs == middle).sum():]),
                                  np.nonzero(xs == middle)[0])


def per_image_road(model, x, heatmaps, classes, percentages, noise, seed):
    """The oracle: each image's MoRF then LeRF copies imputed and scored in their own call,
    drawing the noise from one generator in that order (as cams did before it batched them)."""
    n, H, W, _ = x.shape
    rng = np.random.default_rng(seed)
    curves = np.zeros((n, 2, len(percentages)))
    for i in range(n):
        order = np.argsort(-cams.upsample(heatmaps[i], (H, W)).astype(np.float32).ravel(),
                           kind="stable")
        copies = []
        for ranked in (order, order[::-1]):
            for pct in percentages:
                removed = np.zeros(H * W, bool)
                removed[ranked[:int(round(H * W * pct / 100))]] = True
                copies.append(metrics.impute(x[i], removed.reshape(H, W), noise, rng))
        curves[i] = metrics.class_probability(model, np.stack(copies), classes[i]).reshape(2, -1)
    return curves


def test_batched_road_equals_the_per_image_computation():
    """Copies of several images share forward passes (batch_size 4 cuts through images), and
    the noise is drawn in the same order: every point is what each image alone gives."""
    model = region_model.build()
    rng = np.random.default_rng(7)
    x = np.clip(region_model.image() + rng.normal(0, 0.1, (4, 12, 12, 1)), 0, 1)
    heatmaps = rng.uniform(size=(4, 6, 6))
    classes, percentages = [1, 0, 1, 1], (20, 50, 80)
    got = metrics.road(model, x, heatmaps, classes, percentages, noise=0.05, seed=2,
                       batch_size=4)
    want = per_image_road(model, x.astype(np.float32), heatmaps, classes, percentages, 0.05, 2)
    assert want.std(axis=2).min() > 0.005                # every curve moves
    np.testing.assert_allclose(got["morf"], want[:, 0], atol=1e-6)
    np.testing.assert_allclose(got["lerf"], want[:, 1], atol=1e-6)
