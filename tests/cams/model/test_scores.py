"""Logit vs probability, fused vs standalone softmax, and the binary sigmoid rule."""
import keras
import numpy as np
import pytest

import cams
from tests import models


def _two_heads(final):
    """The same network twice: softmax fused into the Dense layer, and as a layer of its own."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    fused = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="fc")(x))
    logits = keras.layers.Dense(4, name="fc_linear")(x)
    split = keras.Model(inputs, final(logits))
    split.get_layer("fc_linear").set_weights(fused.get_layer("fc").get_weights())
    return fused, split


@pytest.mark.parametrize("final", [keras.layers.Activation("softmax"), keras.layers.Softmax()],
                         ids=["Activation", "Softmax"])
@pytest.mark.parametrize("score", cams.SCORES)
@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_standalone_softmax_equals_fused(final, score, backend):
    fused, split = _two_heads(final)
    x = models.images((16, 16, 3), 3, seed=3)
    a = cams.explain(fused, x, class_index=[0, 1, 3], backend=backend, score=score)
    b = cams.explain(split, x, class_index=[0, 1, 3], backend=backend, score=score)
    assert all(h.max() == 1 and h.std() > 0.01 for h in a.heatmaps)
    np.testing.assert_allclose(a.heatmaps, b.heatmaps, atol=1e-5)
    np.testing.assert_allclose(a.outputs, b.outputs, atol=1e-6)


def test_logit_and_probability_differ(vgg16):
    """Grad-CAM of y^c and of softmax(y)^c are different maps (the paper uses y^c)."""
    x = models.vgg_images(1, seed=10)
    logit = cams.explain(vgg16, x, layer="block5_conv3", class_index=251, score="logit")
    prob = cams.explain(vgg16, x, layer="block5_conv3", class_index=251, score="probability")
    assert np.abs(logit.heatmaps - prob.heatmaps).max() > 0.05


def test_binary_class_zero_is_the_negated_logit(mobilenet_sigmoid):
    """For one sigmoid unit, class 1 differentiates z and class 0 differentiates -z."""
    x = models.mobilenet_images()
    one = cams.explain(mobilenet_sigmoid, x, class_index=1)
    zero = cams.explain(mobilenet_sigmoid, x, class_index=0)
    # relu(S) and relu(-S) never light the same cell.
    assert np.all(np.minimum(one.heatmaps, zero.heatmaps) == 0)
    assert all(h.max() == 1 for h in np.concatenate([one.heatmaps, zero.heatmaps]))
