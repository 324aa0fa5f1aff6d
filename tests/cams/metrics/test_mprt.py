"""The randomization test's variants on a small CNN whose layers above the explained one are
known: the cascade's last step is randomization_check itself, each step and each independent
layer changes the class map, and a class-blind map never moves."""
import keras
import numpy as np
import pytest

import cams
from cams.metrics import (cascading_randomization, independent_randomization,
                          randomization_check, smooth_randomization_check)
from cams.metrics.mprt import weighted_above
from tests import models


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(21)
    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(a)
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv3")(a)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(a)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))


def gradcam(model, x):
    return cams.explain(model, x, layer="conv1", class_index=[0, 1, 2]).heatmaps


def eigencam(model, x):
    return cams.explain(model, x, layer="conv1", method="eigencam").heatmaps


def test_the_cascade_goes_from_the_top_down_and_ends_where_the_check_does(cnn):
    x = models.images((16, 16, 3), 3, seed=8)
    assert weighted_above(cnn, "conv1") == ["head", "conv3", "conv2"]
    found = cascading_randomization(cnn, x, gradcam, "conv1", seed=4)
    assert found["layers"] == ["head", "conv3", "conv2"] and found["rho"].shape == (3, 3)
    assert (found["rho"] < 0.95).all()                    # every step changes the class map
    whole = randomization_check(cnn, x, gradcam, "conv1", seed=4)
    np.testing.assert_allclose(found["rho"][-1], whole, atol=1e-6)
    blind = cascading_randomization(cnn, x, eigencam, "conv1", seed=4)["rho"]
    np.testing.assert_allclose(blind, 1.0, atol=1e-6)    # Eigen-CAM never looks above


def test_each_layer_alone_and_the_smooth_check(cnn):
    x = models.images((16, 16, 3), 3, seed=8)
    alone = independent_randomization(cnn, x, gradcam, "conv1", seed=4)
    assert alone["layers"] == ["head", "conv3", "conv2"]
    cascade = cascading_randomization(cnn, x, gradcam, "conv1", seed=4)["rho"]
    np.testing.assert_allclose(alone["rho"][0], cascade[0], atol=1e-6)   # the top alone: both
    assert np.abs(alone["rho"][1:] - cascade[1:]).max() > 1e-3          # then they part
    smooth = smooth_randomization_check(cnn, x, gradcam, "conv1", samples=3, seed=4)
    assert smooth.shape == (3,) and (smooth < 0.95).all()
    np.testing.assert_allclose(
        smooth_randomization_check(cnn, x, eigencam, "conv1", samples=3, seed=4), 1.0,
        atol=1e-6)
    with pytest.raises(ValueError, match="nothing to randomize"):
        cascading_randomization(cnn, x, gradcam, "head")
