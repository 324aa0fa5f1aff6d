"""Conventions a user sees, each pinned to a case worked out by hand: Eigen-CAM's sign, how the
localization metrics upsample a map, where the insertion curve starts, and how the overlay
reads a float image."""
import keras
import numpy as np
import pytest

import cams
from cams import metrics


def _one_conv_model(v, c):
    """Input (6, 6, 1) -> 1x1 conv "features" with A[y, x] = x[y, x] * v + c -> pooled softmax."""
    inputs = keras.Input((6, 6, 1))
    features = keras.layers.Conv2D(len(v), 1, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(2, activation="softmax")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.asarray(v, np.float32).reshape(1, 1, 1, -1),
                                             np.asarray(c, np.float32)])
    return model


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_eigencam_is_hot_where_the_layer_is_most_active(scale):
    # Every cell's activations are t * v + c: one principal direction, v, whose sign is
    # arbitrary. Its largest entry is negative, but the activations' sum rises with t
    # (sum(v) = 1.5 > 0), so the map must be relu(t - mean t), scaled to a peak of 1. The second
    # image, 1 - t, has the same activations mirrored about their mean: whichever sign the
    # decomposition returns, one of the two images needs it flipped. Scaling the activations
    # down cannot change the map.
    v, c = scale * np.array([1.0, 1.0, 1.0, -1.5]), scale * np.array([2.0, 0.5, 1.0, 4.0])
    t = np.random.default_rng(0).permutation(36).reshape(6, 6) / 35.0
    x = np.stack([t, 1 - t])[..., None].astype(np.float32)
    model = _one_conv_model(v, c)
    res = cams.explain(model, x, layer="features", method="eigencam")
    for heat, image in zip(res.heatmaps, x[..., 0]):
        expected = np.maximum(image - image.mean(), 0)
        np.testing.assert_allclose(heat, expected / expected.max(), atol=1e-5)
        A = image[..., None] * v + c
        assert np.corrcoef(heat.ravel(), A.sum(axis=-1).ravel())[0, 1] > 0.8
    # The map ignores the class, but the explanation still carries the model's outputs and
    # the predicted class, as every method's does.
    outputs = np.asarray(model(x))
    np.testing.assert_allclose(res.outputs, outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res.class_index, outputs.argmax(axis=1))


# A 1 x 4 map (0, 4, 1, 0) upsampled to 8 columns. Half-pixel centres (what OpenCV and
# tf.image.resize do) read output column i at (i + 0.5) / 2 - 0.5 cells: columns 2 and 3 read
# 0.75 and 1.25 cells, 3.0 and 3.25, so the peak is column 3. Aligned corners would read
# i * 3 / 7 cells: 24/7 and 22/7, the peak in column 2.
PEAK = np.array([0.0, 4.0, 1.0, 0.0])


def test_pointing_game_upsamples_with_half_pixel_centres():
    heat = np.outer(PEAK, PEAK)          # 4 x 4, peak at (3, 3) of 8 x 8 half-pixel
    at_3, at_2 = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    at_3[3, 3] = at_2[2, 2] = True
    assert metrics.pointing_game(heat, at_3) == 1.0
    assert metrics.pointing_game(heat, at_2) == 0.0


def test_energy_in_mask_upsamples_with_half_pixel_centres():
    # (0, 1) to 8 columns, half-pixel: 0, 0, 1/8, 3/8, 5/8, 7/8, 1, 1 (sum 4); the right half
    # holds 5/8 + 7/8 + 1 + 1 = 3.5 of it. Aligned corners would give i / 7: 22/28.
    heat = np.array([[0.0, 1.0], [0.0, 1.0]])
    right = np.zeros((4, 8), bool)
    right[:, 4:] = True
    assert metrics.energy_in_mask(heat, right) == pytest.approx(3.5 / 4, abs=1e-6)


def test_aligned_corners_put_the_end_pixels_on_the_end_cells():
    heat = np.array([[1.0, 3.0], [5.0, 7.0]])
    np.testing.assert_allclose(cams.upsample(heat, (2, 2), align_corners=True), heat)
    np.testing.assert_allclose(cams.upsample(heat, (3, 3), align_corners=True),
                               [[1, 2, 3], [3, 4, 5], [5, 6, 7]])
    # One pixel: the first cell, where half-pixel centres read the middle of the map.
    np.testing.assert_allclose(cams.upsample(heat, (1, 1), align_corners=True), [[1.0]])
    np.testing.assert_allclose(cams.upsample(heat, (1, 1)), [[4.0]])


def _centre_pixel_model(size, weight, bias):
    """p(class 1) = sigmoid(weight * x[centre] + bias) on (size, size, 1) images."""
    inputs = keras.Input((size, size, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((size * size, 1), np.float32)
    kernel[(size // 2) * size + size // 2] = weight
    model.layers[-1].set_weights([kernel, np.array([bias], np.float32)])
    return model


def _gauss_centre(sigma):
    """The centre weight of OpenCV's 1-D Gaussian kernel (its size: 8 sigma + 1, made odd)."""
    radius = (int(round(8 * sigma + 1)) | 1) // 2
    k = np.arange(-radius, radius + 1)
    return 1.0 / np.exp(-k ** 2 / (2 * sigma ** 2)).sum()


@pytest.mark.parametrize("sigma, expected_sigma", [(None, 1.0), (2.0, 2.0)])
def test_insertion_starts_from_the_image_blurred(sigma, expected_sigma):
    # One bright pixel on black: blurred by a Gaussian of sigma s it keeps g0(s)^2 of itself
    # (g0 the kernel's centre weight), so the first insertion point is
    # sigmoid(10 * g0^2 - 1): 0.644 at s = 1 (the default, width / 20), 0.354 at s = 2.
    size = 20
    x = np.zeros((1, size, size, 1), np.float32)
    x[0, size // 2, size // 2, 0] = 1.0
    model = _centre_pixel_model(size, 10.0, -1.0)
    res = metrics.deletion_insertion(model, x, np.ones((1, 5, 5)), [1], steps=4,
                                     blur_sigma=sigma)
    z = 10.0 * _gauss_centre(expected_sigma) ** 2 - 1.0
    assert res["insertion_curve"][0, 0] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-4)
    assert res["insertion_curve"][0, -1] == pytest.approx(1 / (1 + np.exp(-9.0)), abs=1e-4)


def _twins():
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    u8[0, 0], u8[0, 1] = 0, 255  # both ends of the range
    return u8, [u8 / 255.0, (u8 / 255.0).astype(np.float32), u8.astype(np.float64)]


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_a_float_image_in_0_1_looks_like_its_uint8_twin(alpha):
    heat = np.array([[0.0, 0.3], [1.0, 0.6]])
    u8, floats = _twins()
    expected = cams.overlay(u8, heat, alpha=alpha)
    if alpha == 0.0:
        np.testing.assert_array_equal(expected, u8)
    for image in floats:  # [0, 1] float64 and float32, and a float image already in [0, 255]
        np.testing.assert_array_equal(cams.overlay(image, heat, alpha=alpha), expected)
        np.testing.assert_array_equal(cams.overlay(image[..., 0], heat, alpha=alpha),
                                      cams.overlay(u8[..., 0], heat, alpha=alpha))


def _pooled_model(head_units, activation, bias, kernel=None, channels=1):
    """Input (6, 6, channels) -> identity 1x1 conv "features" (A = x) -> average pool ->
    Dense(head_units, activation) with the given kernel (default zeros) and bias."""
    inputs = keras.Input((6, 6, channels))
    features = keras.layers.Conv2D(channels, 1, name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(head_units, activation=activation)(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.eye(channels, dtype=np.float32)[None, None],
                                             np.zeros(channels, np.float32)])
    kernel = np.zeros((channels, head_units)) if kernel is None else kernel
    model.layers[-1].set_weights([np.asarray(kernel, np.float32),
                                  np.asarray(bias, np.float32)])
    return model


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_a_single_sigmoid_unit_predicts_class_1_above_one_half(score):
    # The logit is the bias here: z = 0.5 (p = 0.62) is class 1, z = -0.5 class 0, and the
    # tie z = 0 (p = 1/2 exactly) class 0, whether read from the logit or the probability.
    x = np.random.default_rng(1).uniform(size=(2, 6, 6, 1)).astype(np.float32)
    for z, expected in ((0.5, 1), (-0.5, 0), (0.0, 0)):
        res = cams.explain(_pooled_model(1, "sigmoid", [z]), x, layer="features", score=score)
        assert list(res.class_index) == [expected] * 2, f"z = {z}"


def test_scorecam_weighs_a_multilabel_head_by_each_labels_own_sigmoid():
    # Three independent labels (sigmoid units): Score-CAM's weight of channel k is the
    # probability of the label asked for on the image masked by channel k, sigmoid(z_label),
    # not a softmax across the labels. Here A = x (three channels), so each mask is a channel
    # of x min-max scaled, and the logits of an image are W^T mean(image) + b.
    x = np.random.default_rng(2).uniform(0.2, 1, size=(1, 6, 6, 3)).astype(np.float32)
    W, b = np.array([[6.0, -4.0, 1.0], [-3.0, 2.0, 8.0], [1.0, 5.0, -6.0]]), [0.1, -0.2, 0.3]
    model = _pooled_model(3, "sigmoid", b, W, channels=3)
    A = x[0].astype(np.float64)
    expected = {}
    for squash in ("sigmoid", "softmax"):
        cam = np.zeros((6, 6))
        for k in range(3):
            mask = (A[..., k] - A[..., k].min()) / (A[..., k].max() - A[..., k].min())
            z = W.T @ (A * mask[..., None]).mean(axis=(0, 1)) + b
            p = 1 / (1 + np.exp(-z)) if squash == "sigmoid" else np.exp(z) / np.exp(z).sum()
            cam += p[2] * A[..., k]
        expected[squash] = cam / cam.max()
    res = cams.explain(model, x, layer="features", class_index=2, method="scorecam")
    np.testing.assert_allclose(res.heatmaps[0], expected["sigmoid"], atol=1e-5)
    assert np.abs(expected["sigmoid"] - expected["softmax"]).max() > 0.04  # the test can tell
