"""The Grad-CAM formula, checked by a NumPy oracle written out loop by loop."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams import methods
from tests import models


def oracle_gradcam(A, G):
    """w_c = spatial mean of G_c; cam = relu(sum_c w_c A_c); heatmap = cam / max(cam)."""
    n, h, w, k = A.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        weights = [G[i, :, :, c].sum() / (h * w) for c in range(k)]
        cam = sum(weights[c] * A[i, :, :, c] for c in range(k))
        cam = np.maximum(cam, 0)
        out[i] = cam / cam.max() if cam.max() > 0 else cam
    return out


def test_formula_on_random_arrays():
    rng = np.random.default_rng(0)
    A, G = rng.normal(size=(3, 5, 6, 7)), rng.normal(size=(3, 5, 6, 7))
    np.testing.assert_allclose(methods.normalize(methods.gradcam(A, G)), oracle_gradcam(A, G),
                               atol=1e-6)


def test_hand_computed_example():
    A = np.zeros((1, 2, 2, 2))
    A[0, :, :, 0] = [[1, 2], [3, 4]]
    A[0, :, :, 1] = [[4, 0], [0, 0]]
    G = np.zeros_like(A)
    G[0, :, :, 0] = 1.0        # w_0 = 1
    G[0, :, :, 1] = -0.5       # w_1 = -0.5
    # cam = A_0 - 0.5 A_1 = [[-1, 2], [3, 4]] -> relu -> / 4
    np.testing.assert_allclose(methods.normalize(methods.gradcam(A, G))[0],
                               [[0, 0.5], [0.75, 1.0]])


def test_all_zero_map_gives_zeros_not_nan():
    A = np.ones((2, 3, 3, 4))
    G = -np.ones_like(A)       # every weight negative: relu leaves nothing
    heat = methods.normalize(methods.gradcam(A, G))
    assert heat.dtype == np.float32 and np.all(heat == 0)


def activations_and_gradients(model, layer_name, x, classes):
    """A and dy^c/dA from an independent sub-model of a flat model (logit: softmax removed)."""
    dense = model.layers[-1]
    grad_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, dense.input])
    with tf.GradientTape() as tape:
        A, features = grad_model(x)
        logits = tf.matmul(features, dense.kernel) + dense.bias
        score = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    return A.numpy(), tape.gradient(score, A).numpy()


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_explain_reproduces_the_oracle(fashion_cnn, backend):
    x = models.images((28, 28, 1), 3, seed=5, low=0)
    classes = [1, 4, 8]
    A, G = activations_and_gradients(fashion_cnn, "final", x, classes)
    res = cams.explain(fashion_cnn, x, layer="final", class_index=classes, backend=backend)
    expected = oracle_gradcam(A.astype(np.float64), G.astype(np.float64))
    assert all(h.max() == 1 and h.std() > 0.01 for h in expected)
    np.testing.assert_allclose(res.heatmaps, expected, atol=1e-4)
