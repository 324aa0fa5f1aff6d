"""What cams does not explain yet gets an error that says what was found and what is accepted."""
import keras
import numpy as np
import pytest

import cams


def _conv_head(x, units=2):
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.layers.Dense(units, activation="softmax")(x)


def test_an_output_is_chosen_by_name_or_index_and_explained_as_its_own_model():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="shared")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    finding = keras.layers.Dense(3, activation="softmax", name="finding")(pooled)
    severity = keras.layers.Dense(1, name="severity")(pooled)
    model = keras.Model(inputs, [finding, severity])
    xs = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="2 outputs .finding, severity.; pass output="):
        cams.explain(model, xs)
    with pytest.raises(ValueError, match="unknown output 'age'"):
        cams.explain(model, xs, output="age")
    alone = keras.Model(inputs, finding)
    for backend in cams.BACKENDS:
        by_name = cams.explain(model, xs, output="finding", class_index=[0, 2], backend=backend)
        expected = cams.explain(alone, xs, class_index=[0, 2], backend=backend)
        assert by_name.head == "multiclass" and by_name.outputs.shape == (2, 3)
        np.testing.assert_allclose(by_name.heatmaps, expected.heatmaps, atol=1e-6)
        assert all(h.max() == 1 and h.std() > 0.01 for h in by_name.heatmaps)
    res = cams.explain(model, xs, output=1)
    assert res.head == "regression" and res.outputs.shape == (2, 1)


def test_a_volume_input_is_refused():
    inputs = keras.Input((8, 16, 16, 1))
    x = keras.layers.Conv3D(2, 3)(inputs)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling3D()(x))
    with pytest.raises(ValueError, match=r"input \(N, H, W, C\).*\(None, 8, 16, 16, 1\)"):
        cams.explain(keras.Model(inputs, out), np.zeros((1, 8, 16, 16, 1)))


def test_token_outputs_are_refused():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 4, strides=4)(inputs)
    tokens = keras.layers.Reshape((16, 4))(x)  # a transformer's (N, tokens, features)
    with pytest.raises(ValueError, match=r"output \(N, classes\).*\(None, 16, 4\)"):
        cams.explain(keras.Model(inputs, tokens), np.zeros((1, 16, 16, 3)))


def test_a_model_without_a_feature_map_is_refused():
    inputs = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="no layer with a spatial 4-D output"):
        cams.explain(keras.Model(inputs, out), np.zeros((1, 16, 16, 3)))
