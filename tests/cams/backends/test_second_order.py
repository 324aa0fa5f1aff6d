"""The Hessian-vector product H A that Shapley-CAM reads, against central differences of the
gradient along A, on a layer norm: TensorFlow's own moments stop a gradient that a second
derivative needs (cams.backends.tf_moments)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams import cache
from cams.backends.backend import PrimitiveBackend


@pytest.fixture(scope="module")
def normed():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    h = keras.layers.LayerNormalization(name="norm")(a)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("gelu")(h))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(h))


def central_difference(model, x, classes, eps=1e-2):
    """(G(A (1 + eps)) - G(A (1 - eps))) / (2 eps): H A to O(eps^2), in float64."""
    A = keras.Model(model.inputs, model.get_layer("conv").output)(x).numpy().astype(np.float64)
    rest = [model.get_layer(n) for n in ("norm",)] + model.layers[3:]

    def gradient(a):
        a = tf.constant(a)
        with tf.GradientTape() as tape:
            tape.watch(a)
            h = a
            for layer in rest:
                h = tf.cast(layer(tf.cast(h, tf.float32)), tf.float64)
            score = tf.reduce_sum(tf.gather(h, classes, axis=1, batch_dims=1))
        return tape.gradient(score, a).numpy()

    return (gradient(A * (1 + eps)) - gradient(A * (1 - eps))) / (2 * eps)


@pytest.mark.parametrize("backend", ("eager", "graph"))
def test_the_hessian_along_a_layer_norm_equals_central_differences(normed, backend):
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype(np.float32)
    classes = np.array([0, 2], np.int32)
    cams.explain(normed, x, layer="conv", class_index=classes, method="shapleycam",
                 backend=backend)
    engine = next(v for k, v in cache._CACHES[normed].items()
                  if isinstance(v, PrimitiveBackend) and k[0] == backend)
    _, _, HA, _, _ = engine.second_order(x, classes)
    expected = central_difference(normed, x, classes)
    assert np.abs(expected).max() > 1e-3                     # the term is alive here
    assert np.abs(HA - expected).max() <= 1e-3 * np.abs(expected).max()
