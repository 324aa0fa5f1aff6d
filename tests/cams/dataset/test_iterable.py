"""explain_batches: a tf.data.Dataset or a list of batches, kept in memory or written to a
store that a second call continues; a multi-label head's every label in one pass."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import zarr

import cams
from cams.dataset.iterable import explain_batches


@pytest.fixture(scope="module")
def multilabel():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="last")(h)
    pooled = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(5, activation="sigmoid")(pooled))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(-1, 1, (10, 32, 32, 3)).astype(np.float32)


def test_in_memory_equals_explain_for_every_label(multilabel, images):
    got = explain_batches(multilabel, [images[:4], images[4:8], images[8:]], classes="all")
    want = cams.explain(multilabel, images, class_index="all")
    assert got["heatmaps"].shape == (10, 5, 28, 28)
    flat = got["heatmaps"].astype(np.float32).reshape(50, -1)
    assert np.allclose(flat.max(axis=1), 1, atol=1e-3) and (flat.std(axis=1) > 0.01).all()
    np.testing.assert_allclose(got["heatmaps"].astype(np.float32), want.heatmaps, atol=1e-3)
    np.testing.assert_allclose(got["probabilities"], want.probabilities, atol=1e-6)
    np.testing.assert_array_equal(got["explained"], np.tile(np.arange(5), (10, 1)))


def test_a_tf_data_dataset_into_a_store_that_a_second_call_continues(multilabel, images,
                                                                     tmp_path):
    labels = np.arange(10) % 5
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    out = str(tmp_path / "store")
    assert explain_batches(multilabel, data.take(2), out=out, classes="labelled")["ok"] == 6
    assert explain_batches(multilabel, data, out=out, classes="labelled") == {
        "ok": 10, "unreadable": 0, "pending": 0}
    store = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")
    want = cams.explain(multilabel, images, class_index=[int(c) for c in labels])
    np.testing.assert_array_equal(store["explained"][:, 0], labels)
    heat = store["heatmaps"][:].astype(np.float32)
    assert (heat.reshape(10, -1).max(axis=1) > 0.99).all()
    np.testing.assert_allclose(heat, want.heatmaps, atol=1e-3)


def test_a_store_is_not_continued_with_another_model_or_other_batches(multilabel, images,
                                                                      tmp_path):
    """The store records the model's weights and the first batch by their bytes: a second
    call with other weights, or with other images, is refused instead of appended."""
    out = str(tmp_path / "store")
    explain_batches(multilabel, [images[:4]], out=out)
    other = keras.models.clone_model(multilabel)        # same layers, other random weights
    with pytest.raises(ValueError, match="model_sha256"):
        explain_batches(other, [images[:4], images[4:]], out=out)
    with pytest.raises(ValueError, match="first_batch_sha256"):
        explain_batches(multilabel, [images[4:8], images[8:]], out=out)
    assert explain_batches(multilabel, [images[:4], images[4:]], out=out)["ok"] == 10
    with pytest.raises(ValueError, match="no images"):
        explain_batches(multilabel, [], out=str(tmp_path / "empty"))
