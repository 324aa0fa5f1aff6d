"""The heart of the suite: every backend computes the same Grad-CAM, and so do the classics.

Each compared heatmap must be non-degenerate (max 1, not constant), so that agreement can never
pass on two all-zero maps.
"""
import itertools

import numpy as np
import pytest

import cams
from reference import chollet_vgg16, keras_io_gradcam, tf_keras_vis_recipe
from tests import models

TOLERANCE = 1e-4

# case: (model fixture, images, layer, class per image)
CASES = {
    "vgg16": ("vgg16", lambda: models.vgg_images(1, seed=10), "block5_conv3", [251]),
    "vgg16_nested": ("vgg16_transfer", lambda: models.vgg_images(2, seed=11),
                     "vgg16/block5_conv3", [0, 1]),
    "fashion_cnn": ("fashion_cnn", lambda: models.images((28, 28, 1), 4, seed=12, low=0),
                    "final", [0, 3, 7, 9]),
    "mobilenetv2_nested_sigmoid_class0": (
        "mobilenet_sigmoid", models.mobilenet_images, None, [0, 0]),
    "mobilenetv2_nested_sigmoid_class1": (
        "mobilenet_sigmoid", models.mobilenet_images, None, [1, 1]),
}
PAIRS = list(itertools.combinations(cams.BACKENDS, 2))

_memo = {}


def explained(request, case, backend, score):
    """cams.explain for a case, computed once per session."""
    key = (case, backend, score)
    if key not in _memo:
        fixture, make_images, layer, classes = CASES[case]
        model = request.getfixturevalue(fixture)
        _memo[key] = (model, make_images()) + (cams.explain(
            model, make_images(), layer=layer, class_index=classes, backend=backend,
            score=score),)
    return _memo[key]


def assert_non_degenerate(heatmaps, label):
    for i, h in enumerate(heatmaps):
        assert np.isfinite(h).all(), f"{label}[{i}] has NaN"
        assert h.max() == pytest.approx(1.0, abs=1e-6), f"{label}[{i}] max is {h.max()}, not 1"
        assert h.std() > 0.01, f"{label}[{i}] is constant"
        assert h.min() >= 0.0


def assert_agree(a, b, label):
    assert a.shape == b.shape, f"{label}: shapes {a.shape} vs {b.shape}"
    assert_non_degenerate(a, label + " (first)")
    assert_non_degenerate(b, label + " (second)")
    diff = np.abs(a - b).max()
    assert diff <= TOLERANCE, f"{label}: max abs difference {diff:.3g} > {TOLERANCE}"


@pytest.mark.parametrize("score", cams.SCORES)
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: "-vs-".join(p))
@pytest.mark.parametrize("case", CASES)
def test_backends_agree(request, case, pair, score):
    _, _, first = explained(request, case, pair[0], score)
    _, _, second = explained(request, case, pair[1], score)
    assert first.layer == second.layer
    np.testing.assert_array_equal(first.class_index, second.class_index)
    np.testing.assert_allclose(first.outputs, second.outputs, rtol=1e-4, atol=1e-6)
    assert_agree(first.heatmaps, second.heatmaps, f"{case} {score} {pair}")


def test_nested_layer_path_is_reported(request):
    _, _, res = explained(request, "vgg16_nested", "eager", "logit")
    assert res.layer == "vgg16/block5_conv3"
    assert res.heatmaps.shape == (2, 14, 14)


@pytest.fixture(scope="module")
def chollet_heatmap(vgg16):
    """The book's recipe on the same seeded VGG16 weights, class 251, probability score."""
    x = models.vgg_images(1, seed=10)
    heatmap, preds = chollet_vgg16.gradcam(x, weights=vgg16.get_weights(), class_index=251)
    return heatmap, preds


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_chollet_recipe_matches(request, chollet_heatmap, backend):
    heatmap, preds = chollet_heatmap
    _, _, res = explained(request, "vgg16", backend, "probability")
    np.testing.assert_allclose(res.outputs, preds, rtol=1e-4, atol=1e-7)
    assert_agree(res.heatmaps, heatmap[None], f"chollet vs {backend}")


@pytest.mark.parametrize("backend", cams.BACKENDS)
@pytest.mark.parametrize("case", ["vgg16", "fashion_cnn"])
def test_keras_io_recipe_matches(request, case, backend):
    """keras.io's make_gradcam_heatmap on its softmax-less clone = the logit score."""
    model, x, res = explained(request, case, backend, "logit")
    linear = keras_io_gradcam.without_softmax(model)
    layer, classes = CASES[case][2], CASES[case][3]
    expected = np.stack([keras_io_gradcam.make_gradcam_heatmap(x[i:i + 1], linear, layer, c)
                         for i, c in enumerate(classes)])
    assert_agree(res.heatmaps, expected, f"keras.io vs {backend}")


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_tf_keras_vis_recipe_matches(request, backend):
    """The Fashion-MNIST article's Gradcam (linear modifier, penultimate_layer=-1)."""
    model, x, res = explained(request, "fashion_cnn", backend, "logit")
    cam, _ = tf_keras_vis_recipe.cams(model, x, CASES["fashion_cnn"][3],
                                      expand_cam=False, normalize_cam=False)
    expected = cam / cam.max(axis=(1, 2), keepdims=True)
    assert_agree(res.heatmaps, expected, f"tf-keras-vis recipe vs {backend}")
