"""Heads beyond one softmax: multi-label sigmoid (CheXNet-style), a regression unit, and every
label of every image in one call. Each label's probability is its own sigmoid, everywhere."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams import metrics
from tests import models
from tests.cams.test_agreement import assert_agree

LABELS = 5


@pytest.fixture(scope="module")
def chexnet_like():
    """Conv layers, global average pooling, Dense(5, sigmoid); head weights mostly positive so
    that every label's map has a place to light up."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="last")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(LABELS, activation="sigmoid", name="labels")(x)
    model = keras.Model(inputs, outputs)
    kernel = np.random.default_rng(7).uniform(-0.3, 1.0, (16, LABELS)).astype(np.float32)
    model.get_layer("labels").set_weights([kernel, np.linspace(-1, 1, LABELS, dtype=np.float32)])
    return model


@pytest.fixture(scope="module")
def x():
    return models.images((32, 32, 3), 3, seed=5)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_each_label_probability_is_its_own_sigmoid(chexnet_like, x):
    p = np.asarray(chexnet_like(x))
    res = cams.explain(chexnet_like, x, class_index=2)
    assert res.head == "multilabel"
    np.testing.assert_allclose(res.probabilities, p, rtol=1e-6)
    assert not np.allclose(res.probabilities.sum(axis=1), 1.0)  # not a softmax across labels
    np.testing.assert_allclose(metrics.class_probability(chexnet_like, x, [2, 0, 4]),
                               p[np.arange(3), [2, 0, 4]], rtol=1e-5)


def test_a_logit_of_two_is_a_probability_of_088():
    """The issue's example: a label with logit 2 is 0.88, not a softmax share across labels."""
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="zeros")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(14, activation="sigmoid", kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant(
                                 [2.0] + [0.0] * 13))(x)
    model = keras.Model(inputs, out)
    p = metrics.class_probability(model, np.zeros((1, 4, 4, 1), np.float32), [0])
    assert p[0] == pytest.approx(_sigmoid(2.0), abs=1e-6)


def test_predicted_is_the_most_probable_label(chexnet_like, x):
    res = cams.explain(chexnet_like, x)
    np.testing.assert_array_equal(res.class_index, np.argmax(np.asarray(chexnet_like(x)), 1))


def _tape_oracle(model, x, layer, label):
    """Grad-CAM of one label's logit by a plain GradientTape on a two-output sub-model."""
    dense = model.get_layer("labels")
    sub = keras.Model(model.inputs, [model.get_layer(layer).output, dense.input])
    with tf.GradientTape() as tape:
        A, features = sub(x)
        z = tf.matmul(features, dense.kernel) + dense.bias
        score = z[:, label]
    G = tape.gradient(score, A).numpy()
    cam = np.maximum(np.einsum("nhwk,nk->nhw", A.numpy(), G.mean(axis=(1, 2))), 0)
    return cam / cam.max(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_all_labels_in_one_call_match_a_hand_written_tape(chexnet_like, x, backend):
    res = cams.explain(chexnet_like, x, layer="last", class_index="all", backend=backend)
    assert res.heatmaps.shape == (3, LABELS, 28, 28)
    np.testing.assert_array_equal(res.class_index, np.tile(np.arange(LABELS), (3, 1)))
    for label in range(LABELS):
        assert_agree(res.heatmaps[:, label], _tape_oracle(chexnet_like, x, "last", label),
                     f"{backend} label {label}")


def test_the_backends_agree_on_every_label(chexnet_like, x):
    maps = {b: cams.explain(chexnet_like, x, layer="c1", class_index="all", backend=b,
                            method="gradcam++", normalize_alphas=True).heatmaps
            for b in cams.BACKENDS}
    for label in range(LABELS):
        for b in ("graph", "tf-keras-vis"):
            assert_agree(maps["eager"][:, label], maps[b][:, label], f"{b} label {label}")


def test_a_list_per_image_and_methods_without_a_one_pass_form(chexnet_like, x):
    chosen = [[0, 3], [1, 4], [2, 2]]
    for method in ("layercam", "scorecam", "guided-gradcam"):
        res = cams.explain(chexnet_like, x, class_index=chosen, method=method)
        np.testing.assert_array_equal(res.class_index, chosen)
        for j in range(2):
            one = cams.explain(chexnet_like, x, class_index=[c[j] for c in chosen], method=method)
            np.testing.assert_allclose(res.heatmaps[:, j], one.heatmaps, atol=1e-6)
        if method == "guided-gradcam":
            assert res.attributions.shape == (3, 2, 32, 32, 3)


def test_scorecam_weighs_by_each_label_sigmoid(chexnet_like, x):
    """Score-CAM's weights are the label's sigmoid on each masked image: checked against
    masked images pushed through the model by hand."""
    from cams.methods import scorecam

    res = cams.explain(chexnet_like, x[:1], layer="last", class_index=[3], method="scorecam")
    A = keras.Model(chexnet_like.inputs, chexnet_like.get_layer("last").output)(x[:1]).numpy()
    masks = scorecam.channel_masks(A[0], (32, 32))
    weights = np.asarray(chexnet_like(x[:1] * masks[..., None]))[:, 3]
    live = masks.reshape(len(masks), -1).max(axis=1) > 0
    cam = np.maximum(A[0][..., live] @ weights[live], 0)
    np.testing.assert_allclose(res.heatmaps[0], cam / cam.max(), atol=1e-5)


def test_bad_class_lists_are_clear_errors(chexnet_like, x):
    with pytest.raises(ValueError, match="one list of classes per image"):
        cams.explain(chexnet_like, x, class_index=[[0], [1]])
    with pytest.raises(ValueError, match="same number"):
        cams.explain(chexnet_like, x, class_index=[[0], [1, 2], [3]])
    with pytest.raises(ValueError, match="out of range"):
        cams.explain(chexnet_like, x, class_index=[[0], [1], [9]])
    with pytest.raises(ValueError, match="'all'"):
        cams.explain(chexnet_like, x, class_index="every")


@pytest.fixture(scope="module")
def regression():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="last")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="severity")(x))


def test_a_regression_unit_is_the_output_without_invented_classes(regression, x):
    res = cams.explain(regression, x)
    assert res.head == "regression"
    np.testing.assert_array_equal(res.class_index, [0, 0, 0])
    np.testing.assert_allclose(res.probabilities, np.asarray(regression(x)), rtol=1e-6)
    with pytest.raises(ValueError, match="regression head has only class 0"):
        cams.explain(regression, x, class_index=1)
    # Grad-CAM of the output itself: relu(sum_k w_k A_k), w_k the dense kernel / (h w).
    A = keras.Model(regression.inputs, regression.get_layer("last").output)(x).numpy()
    cam = np.maximum(A @ regression.get_layer("severity").kernel.numpy()[:, 0], 0)
    cams_maps = {b: cams.explain(regression, x, backend=b).heatmaps for b in cams.BACKENDS}
    for b, maps in cams_maps.items():
        assert_agree(maps, cam / cam.max(axis=(1, 2), keepdims=True), f"{b} regression")


def test_mixed_precision_maps_are_float32_and_agree(x):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(4)
        inputs = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(8, 3, activation="relu", name="last")(inputs)
        h = keras.layers.GlobalAveragePooling2D()(h)
        outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(h)
        model = keras.Model(inputs, outputs)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("last").compute_dtype == "float16"
    maps = {b: cams.explain(model, x, class_index=[0, 1, 2], backend=b).heatmaps
            for b in cams.BACKENDS}
    for b, m in maps.items():
        assert m.dtype == np.float32
        assert_agree(maps["eager"], m, f"mixed precision {b}")


def test_every_head_reports_each_classs_probability():
    """Explanation.probabilities from the outputs: softmax of linear logits, the softmax as it
    is, each sigmoid alone, 1 - p and p for one sigmoid unit, a regression output as it is."""
    keras.utils.set_random_seed(11)
    x = np.random.default_rng(5).uniform(size=(3, 8, 8, 3)).astype(np.float32)
    for units, activation in ((3, None), (3, "softmax"), (3, "sigmoid"), (1, "sigmoid"),
                              (1, None)):
        inputs = keras.Input((8, 8, 3))
        a = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        out = keras.layers.Dense(units, activation=activation, bias_initializer=keras.initializers
                                 .RandomNormal(stddev=2.0))(keras.layers.Flatten()(a))
        model = keras.Model(inputs, out)
        res = cams.explain(model, x)
        y = np.asarray(model(x), np.float64)
        expected = {(3, None): np.exp(y) / np.exp(y).sum(axis=1, keepdims=True),
                    (3, "softmax"): y, (3, "sigmoid"): y,
                    (1, "sigmoid"): np.concatenate([1 - y, y], axis=1), (1, None): y}
        np.testing.assert_allclose(res.probabilities, expected[units, activation], rtol=1e-5,
                                   err_msg=f"{units} {activation}")


@pytest.mark.parametrize("backend", ["eager", "graph", "tf-keras-vis"])
def test_a_tie_in_the_outputs_explains_the_lowest_class(backend):
    """Probabilities that tie exactly (1/3 each) over logits that do not: every backend
    explains class 0, the class the outputs show first (it explained class 2 by the logits)."""
    from tests.cams.test_keras_backends import tied

    res = cams.explain(tied(), models.images((32, 32, 3), 2, seed=3), backend=backend)
    assert (res.outputs == res.outputs[:, :1]).all()
    np.testing.assert_array_equal(res.class_index, [0, 0])


def test_first_argmax_takes_the_lowest_index_of_a_tie():
    from cams.model import scores

    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0]], np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scores.first_argmax(values)),
                                  [1, 0, 2])

