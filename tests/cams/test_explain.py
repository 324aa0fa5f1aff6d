"""cams.explain's contract: shapes, classes, batches, bad input, no mutation, eager after."""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from reference import chollet_vgg16
from tests import models


def test_result_fields(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=1, low=0)
    res = cams.explain(fashion_cnn, x)
    assert res.heatmaps.dtype == np.float32 and res.heatmaps.shape == (2, 14, 14)
    assert res.heatmaps.min() >= 0 and res.heatmaps.max() <= 1
    assert res.layer == "batch_normalization_2"  # the last spatial layer, after "final"
    np.testing.assert_array_equal(res.class_index, np.argmax(res.outputs, axis=1))
    np.testing.assert_allclose(res.outputs, fashion_cnn.predict(x, verbose=0), rtol=1e-5)
    assert (res.method, res.backend, res.score) == ("gradcam", "eager", "logit")


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_batch_equals_single_calls(fashion_cnn, backend):
    x = models.images((28, 28, 1), 3, seed=2, low=0)
    classes = [2, 5, 9]
    batch = cams.explain(fashion_cnn, x, layer="final", class_index=classes, backend=backend)
    for i, c in enumerate(classes):
        single = cams.explain(fashion_cnn, x[i:i + 1], layer="final", class_index=c,
                              backend=backend)
        assert single.heatmaps[0].max() == 1 and single.heatmaps[0].std() > 0.01
        np.testing.assert_allclose(batch.heatmaps[i], single.heatmaps[0], atol=1e-5)
        assert batch.class_index[i] == c


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_binary_predicted_class(backend):
    model = models.small_binary()
    x = models.images((32, 32, 3), 16, seed=21, low=-3, high=3)
    res = cams.explain(model, x, backend=backend)
    assert 0 < res.class_index.sum() < len(x), "both classes should be predicted somewhere"
    np.testing.assert_array_equal(res.class_index, (res.outputs[:, 0] > 0.5).astype(int))


def test_unknown_layer_lists_valid_paths(vgg16_transfer):
    x = models.vgg_images(1, seed=0)
    with pytest.raises(ValueError, match="unknown layer 'block9_conv3'") as err:
        cams.explain(vgg16_transfer, x, layer="block9_conv3")
    assert "vgg16/block5_conv3" in str(err.value) and "vgg16/block1_conv1" in str(err.value)


def test_layer_without_spatial_output(vgg16_transfer):
    x = models.vgg_images(1, seed=0)
    with pytest.raises(ValueError, match="not a spatial 4-D feature map"):
        cams.explain(vgg16_transfer, x, layer="head_dense")
    with pytest.raises(ValueError, match="not a spatial"):  # 7x7 pooled by 4: a 1x1 map
        cams.explain(vgg16_transfer, x, layer="head_pool")


def test_layer_must_be_a_string(fashion_cnn):
    with pytest.raises(TypeError, match="layer must be a layer path string or None"):
        cams.explain(fashion_cnn, models.images((28, 28, 1), 1, seed=1, low=0), layer=["final"])


def test_bare_inner_name_resolves_to_its_path(vgg16_transfer):
    x = models.vgg_images(1, seed=0)
    assert cams.explain(vgg16_transfer, x, layer="block4_conv1").layer == "vgg16/block4_conv1"


@pytest.mark.parametrize("images, message", [
    (np.zeros((28, 28, 1)), r"batch of shape \(N, 28, 28, 1\); got shape \(28, 28, 1\) \(add a batch"),
    (np.zeros((1, 28, 28)), "batch of shape"),
    (np.zeros((1, 28, 28, 3)), "3 channels but the model takes 1"),
    (np.zeros((1, 32, 28, 1)), "32 height but the model takes 28"),
    (np.zeros((0, 28, 28, 1)), "empty batch"),
    (np.full((1, 28, 28, 1), np.nan), "NaN"),
    ([["a"]], "numeric array"),
])
def test_bad_images(fashion_cnn, images, message):
    with pytest.raises(ValueError, match=message):
        cams.explain(fashion_cnn, images)


@pytest.mark.parametrize("class_index, error, message", [
    (10, ValueError, r"class_index 10 is out of range: the model has 10 classes \(0..9\)"),
    (-1, ValueError, "out of range"),
    ([1, 2, 3], ValueError, "3 entries for 2 images"),
    (1.5, TypeError, "class_index must be None, an int"),
    (True, TypeError, "class_index must be None, an int"),
])
def test_bad_class_index(fashion_cnn, class_index, error, message):
    x = models.images((28, 28, 1), 2, seed=1, low=0)
    with pytest.raises(error, match=message):
        cams.explain(fashion_cnn, x, class_index=class_index)


def test_binary_head_has_two_classes(mobilenet_sigmoid):
    with pytest.raises(ValueError, match="has 2 classes"):
        cams.explain(mobilenet_sigmoid, models.mobilenet_images(), class_index=2)


@pytest.mark.parametrize("kind, value", [("method", "gradcam+++"), ("backend", "mxnet"),
                                         ("score", "softmax")])
def test_unknown_choices(fashion_cnn, kind, value):
    x = models.images((28, 28, 1), 1, seed=1, low=0)
    with pytest.raises(ValueError, match=re.escape(f"unknown {kind} '{value}'; choose one of")):
        cams.explain(fashion_cnn, x, **{kind: value})


def test_a_subclassed_model_ending_in_a_feature_map_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"classifiers with output \(N, classes\).*\(None, 6, 6, 2\)"):
        cams.explain(net, np.zeros((1, 8, 8, 1)))


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_all_zero_map_gives_zeros(backend):
    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer="ones",
                            name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros")(x)
    model = keras.Model(inputs, outputs)
    res = cams.explain(model, np.ones((2, 8, 8, 1)), class_index=1, backend=backend)
    assert np.isfinite(res.heatmaps).all() and np.all(res.heatmaps == 0)


def _snapshot(model):
    return [w.copy() for w in model.get_weights()], model.layers[-1].activation, len(model.layers)


@pytest.mark.parametrize("fixture", ["fashion_cnn", "mobilenet_sigmoid"])
def test_callers_model_is_not_mutated(request, fixture):
    model = request.getfixturevalue(fixture)
    x = (models.images((28, 28, 1), 1, seed=3, low=0) if fixture == "fashion_cnn"
         else models.mobilenet_images()[:1])
    before = model.predict(x, verbose=0)
    weights, activation, n_layers = _snapshot(model)
    for backend in cams.BACKENDS:
        for score in cams.SCORES:
            cams.explain(model, x, backend=backend, score=score)
    after_weights, after_activation, after_layers = _snapshot(model)
    assert after_activation is activation
    assert getattr(activation, "__name__", "") in ("softmax", "sigmoid")
    assert after_layers == n_layers
    for a, b in zip(weights, after_weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def test_process_stays_eager(vgg16):
    cams.explain(vgg16, models.vgg_images(1, seed=3), backend="graph", layer="block5_conv3")
    assert tf.executing_eagerly()
    x = models.vgg_images(1, seed=3)
    chollet_vgg16.gradcam(x, weights=None)
    assert tf.executing_eagerly()


def _negative_head_cnn():
    """conv1 -> conv2 (ReLU) -> global average pooling -> Dense(2) whose class-1 weights are all
    negative: class 1's Grad-CAM at conv2 is negative everywhere (blank), not at conv1."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    kernel = np.stack([np.full(8, 0.5), -np.linspace(0.2, 1.0, 8)], axis=1).astype(np.float32)
    model.get_layer("head").set_weights([kernel, np.zeros(2, np.float32)])
    return model


@pytest.mark.parametrize("backend", ["eager", "graph"])
def test_a_default_layer_with_blank_maps_gives_way_to_the_last_live_one(backend):
    model = _negative_head_cnn()
    x = models.images((16, 16, 3), 3, seed=6)
    with pytest.warns(UserWarning, match="default layer 'conv2' gives blank maps.*'conv1'"):
        res = cams.explain(model, x, class_index=1, backend=backend)
    assert res.layer == "conv1" and res.heatmaps.shape == (3, 14, 14)
    direct = cams.explain(model, x, class_index=1, layer="conv1", backend=backend)
    np.testing.assert_allclose(res.heatmaps, direct.heatmaps)
    assert (res.heatmaps.max(axis=(1, 2)) == 1).all() and res.heatmaps.std() > 1e-3
    with pytest.warns(UserWarning, match="'conv2' gives blank maps.*'conv1' gives maps that"):
        named = cams.explain(model, x, class_index=1, layer="conv2", backend=backend)
    assert named.layer == "conv2" and not named.heatmaps.any()
    # the class the model sees: live at the default layer, no warning, no detour
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cams.explain(model, x, class_index=0, backend=backend).layer == "conv2"


def test_aug_smooth_averages_six_passes_for_the_plain_images_classes(fashion_cnn):
    """The mirrored and scaled images are explained for the classes of the images as they are,
    in batches as without it, every class at once, the guided methods' attributions too."""
    x = models.images((28, 28, 1), 3, seed=5, low=0)
    from cams import forward

    before = forward.passes()
    one = cams.explain(fashion_cnn, x, class_index="all", aug_smooth=True)
    after = forward.passes()
    assert sum(after.values()) - sum(before.values()) == 6 * 3
    batched = cams.explain(fashion_cnn, x, class_index="all", aug_smooth=True, batch_size=2)
    np.testing.assert_allclose(batched.heatmaps, one.heatmaps, atol=1e-5)
    assert one.heatmaps.shape == (3, 10, 14, 14) and one.options == {"aug_smooth": True,
                                                                     "eigen_smooth": False}
    plain = cams.explain(fashion_cnn, x, class_index="all")
    assert np.abs(plain.heatmaps - one.heatmaps).max() > 0.05
    guided = cams.explain(fashion_cnn, x, method="guided-backprop", aug_smooth=True)
    assert guided.attributions.shape == x.shape and np.isfinite(guided.attributions).all()


def _min_max(maps):
    maps = maps.astype(np.float64) - maps.min(axis=(-2, -1), keepdims=True)
    return maps / (1e-7 + maps.max(axis=(-2, -1), keepdims=True))


@pytest.mark.parametrize("method", ["gradcam", "guided-backprop"])
def test_aug_smooth_is_the_mean_of_the_augmented_images_maps_mirrored_back(fashion_cnn,
                                                                           method):
    """The oracle, through the public call: each mirrored or scaled image explained for the
    class the plain image predicts, its map (and attributions) mirrored back."""
    x = models.images((28, 28, 1), 3, seed=8, low=0)
    smooth = cams.explain(fashion_cnn, x, method=method, aug_smooth=True)
    plain = cams.explain(fashion_cnn, x, method=method)
    np.testing.assert_array_equal(smooth.class_index, plain.class_index)
    maps, attributions = [], []
    for mirrored in (False, True):
        for factor in (0.9, 1.0, 1.1):
            seen = (x[:, :, ::-1] if mirrored else x) * factor
            res = cams.explain(fashion_cnn, seen, method=method,
                               class_index=list(plain.class_index))
            back = (lambda a: a[:, :, ::-1]) if mirrored else (lambda a: a)
            maps.append(_min_max(back(res.heatmaps)))
            if res.attributions is not None:
                attributions.append(back(res.attributions))
    expected = np.mean(maps, axis=0)
    expected = expected / expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(smooth.heatmaps, expected, atol=1e-4)
    if method == "guided-backprop":
        np.testing.assert_allclose(smooth.attributions, np.mean(attributions, axis=0),
                                   atol=1e-5)
    with pytest.raises(TypeError, match="aug_smooth must be True or False; got 1"):
        cams.explain(fashion_cnn, x, aug_smooth=1)


def test_eigen_smooth_is_an_option_of_the_methods_that_sum_weighted_activations(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=5, low=0)
    smooth = cams.explain(fashion_cnn, x, method="hirescam", eigen_smooth=True)
    plain = cams.explain(fashion_cnn, x, method="hirescam")
    assert np.abs(smooth.heatmaps - plain.heatmaps).max() > 0.05
    assert all(h.max() == 1 for h in smooth.heatmaps)
    with pytest.raises(ValueError, match="method 'eigencam' does not take 'eigen_smooth'"):
        cams.explain(fashion_cnn, x, method="eigencam", eigen_smooth=True)
