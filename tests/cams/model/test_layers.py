"""Layer paths into nested models, the default layer, and the flattened twin model."""
import keras
import numpy as np
import pytest

import cams
from cams.model import layers
from tests import models


def test_nested_paths_and_default_is_last(vgg16_transfer):
    paths = cams.conv_layers(vgg16_transfer)
    assert paths[0] == "vgg16/block1_conv1"
    assert paths[-1] == "vgg16/block5_pool"   # head_pool makes a 1x1 map: not usable
    assert "vgg16/block5_conv3" in paths
    assert layers.resolve(vgg16_transfer).path == paths[-1]


def test_separable_and_depthwise_convs_count():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.SeparableConv2D(4, 3, name="separable")(x)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    assert cams.conv_layers(model) == ["conv", "separable", "depthwise"]


def test_mobilenet_default_is_its_last_activation(mobilenet_sigmoid):
    assert cams.conv_layers(mobilenet_sigmoid)[-1] == "mobilenetv2_1.00_128/out_relu"


def test_sequential_model_is_walked():
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(3, 3, name="c1"),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    x = models.images((12, 12, 1), 2, seed=4)
    assert cams.conv_layers(model) == ["c1"]
    heat = {b: cams.explain(model, x, class_index=0, backend=b).heatmaps for b in cams.BACKENDS}
    assert all(h.max() == 1 and h.std() > 0.01 for h in heat["eager"])
    for b in ("graph", "tf-keras-vis"):
        np.testing.assert_allclose(heat[b], heat["eager"], atol=1e-5)


def test_nested_sequential_inside_functional():
    keras.utils.set_random_seed(7)
    inner = keras.Sequential([keras.Input((10, 10, 2)), keras.layers.Conv2D(4, 3, name="k")],
                             name="inner")
    inputs = keras.Input((10, 10, 2))
    x = inner(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    assert cams.conv_layers(model) == ["inner/k"]


def test_unbuilt_sequential_is_refused():
    model = keras.Sequential([keras.layers.Conv2D(3, 3)])
    with pytest.raises(ValueError, match="is not built"):
        cams.conv_layers(model)


def test_flat_model_equals_nested_model(mobilenet_sigmoid):
    flat = cams.flat_model(mobilenet_sigmoid)
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    x = models.images((128, 128, 3), 2, seed=8)
    np.testing.assert_allclose(flat.predict(x, verbose=0),
                               mobilenet_sigmoid.predict(x, verbose=0), atol=1e-6)
    inner = mobilenet_sigmoid.get_layer("mobilenetv2_1.00_128").get_layer("Conv1")
    assert flat.get_layer("Conv1") is inner   # the same layer object: the same weights
