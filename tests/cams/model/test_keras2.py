"""Keras 2 (tf_keras) models as TensorFlow 2.x code saved them: seed 000's VGG16 transfer model
as .h5 (which Keras 3 alone cannot read), a SavedModel folder, and a live tf_keras object, all
explained in every backend; checked against a Grad-CAM written with tf_keras itself."""
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import cams
from cams.io import modelcard
from cams.model import keras2
from tests import models
from tests.cams.test_agreement import assert_agree

SIZE = 128


@pytest.fixture(scope="module")
def keras2_model():
    return models.vgg16_transfer(SIZE, library=tf_keras)   # built the Keras 2 way


@pytest.fixture(scope="module")
def h5_path(keras2_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("seed000") / "seed000.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf_keras calls HDF5 legacy
        keras2_model.save(path)
    return path


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(3)
    return rng.normal(0, 40, (2, SIZE, SIZE, 3)).astype(np.float32)


def _tf_keras_gradcam(model, x, layer, classes):
    """Grad-CAM of the class logit by a tf_keras GradientTape on a flat tf_keras model."""
    head = model.layers[-1]
    sub = tf_keras.Model(model.inputs, [model.get_layer(layer).output, head.input])
    with tf.GradientTape() as tape:
        A, features = sub(x)
        z = tf.matmul(features, head.kernel) + head.bias
        score = tf.gather(z, classes, axis=1, batch_dims=1)
    G = tape.gradient(score, A).numpy()
    cam = np.maximum(np.einsum("nhwk,nk->nhw", A.numpy(), G.mean(axis=(1, 2))), 0)
    return cam / cam.max(axis=(1, 2), keepdims=True)


def test_keras3_alone_cannot_read_the_h5_and_cams_says_it_converts(h5_path, capsys):
    import keras

    with pytest.raises(ValueError, match="loops or disconnected"):
        keras.models.load_model(h5_path, compile=False)
    model = modelcard.load_model(h5_path)
    assert "Keras 2 file" in capsys.readouterr().out
    assert [layer.name for layer in model.layers][1:3] == ["vgg16", "head_pool"]


def test_the_converted_h5_is_the_same_model_in_every_backend(h5_path, keras2_model, x):
    model = modelcard.load_model(h5_path)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(keras2_model(x)), atol=1e-6)
    maps = {b: cams.explain(model, x, layer="vgg16/block5_conv3", class_index=[0, 1],
                            backend=b).heatmaps for b in cams.BACKENDS}
    for b in ("graph", "tf-keras-vis"):
        assert_agree(maps["eager"], maps[b], f"seed000.h5 eager vs {b}")


def test_a_live_tf_keras_model_is_explained_unchanged(keras2_model, x):
    before = [w.copy() for w in keras2_model.get_weights()]
    with pytest.warns(UserWarning, match="Keras 2 .tf_keras. model"):
        res = cams.explain(keras2_model, x, layer="vgg16/block5_conv3", class_index=[0, 1])
    converted = keras2.convert(keras2_model)
    direct = cams.explain(converted, x, layer="vgg16/block5_conv3", class_index=[0, 1])
    assert_agree(res.heatmaps, direct.heatmaps, "tf_keras object vs its converted copy")
    for a, b in zip(before, keras2_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(keras2_model).__module__.startswith("tf_keras")


def test_new_weights_of_a_tf_keras_model_are_seen(x):
    tf_keras.utils.set_random_seed(5)
    model = tf_keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=3,
                                              alpha=0.35)
    x96 = tf.image.resize(x, (96, 96)).numpy() / 100.0
    first = cams.explain(model, x96, class_index=[0, 1]).heatmaps
    kernel = model.get_layer("Conv_1").kernel
    kernel.assign(kernel * -1.0)
    second = cams.explain(model, x96, class_index=[0, 1]).heatmaps
    assert np.abs(first - second).max() > 0.1


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_a_flat_tf_keras_model_matches_a_tf_keras_tape(backend):
    """The oracle is written with tf_keras alone, on the Keras 2 model itself."""
    tf_keras.utils.set_random_seed(6)
    inputs = tf_keras.Input((32, 32, 3))
    h = tf_keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inputs)
    h = tf_keras.layers.BatchNormalization(name="bn")(h)
    h = tf_keras.layers.Conv2D(16, 3, activation="relu", name="last")(h)
    h = tf_keras.layers.GlobalAveragePooling2D()(h)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, activation="softmax")(h))
    xs = np.random.default_rng(8).normal(size=(3, 32, 32, 3)).astype(np.float32)
    classes = [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = cams.explain(model, xs, layer="last", class_index=classes, backend=backend)
    assert_agree(res.heatmaps, _tf_keras_gradcam(model, xs, "last", classes),
                 f"{backend} vs a tf_keras tape")


def test_a_savedmodel_folder_is_read_and_converted(tmp_path, capsys):
    tf_keras.utils.set_random_seed(9)
    inputs = tf_keras.Input((32, 32, 3))
    h = tf_keras.layers.Conv2D(4, 3, activation="relu", name="last")(inputs)
    h = tf_keras.layers.GlobalAveragePooling2D()(h)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, activation="softmax")(h))
    folder = str(tmp_path / "saved")
    model.save(folder, save_format="tf")
    loaded = modelcard.load_model(folder)
    assert "SavedModel" in capsys.readouterr().out
    xs = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(xs)), np.asarray(model(xs)), atol=1e-6)


def test_every_application_family_converts_to_the_same_outputs():
    """Layers Keras 3 reads differently: DenseNet's "/" names, depthwise/separable configs,
    TensorFlow ops recorded as layers (MobileNetV3's hard-swish, ConvNeXt), and the layers
    applications define themselves (LayerScale, CustomScaleLayer)."""
    for name, size in (("DenseNet121", 64), ("MobileNetV3Small", 64), ("ConvNeXtTiny", 64),
                       ("Xception", 71), ("InceptionResNetV2", 75)):
        tf_keras.utils.set_random_seed(0)
        model = getattr(tf_keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                                     classes=3)
        twin = keras2.convert(model)
        xs = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(twin(xs)), np.asarray(model(xs)), atol=1e-5,
                                   err_msg=name)


def test_the_app_serves_a_keras2_h5(h5_path, tmp_path):
    from PIL import Image

    from cams.app import handlers

    app = handlers.App(h5_path)
    assert app.default_layer.startswith("vgg16/") and app.classes == ["class 0", "class 1"]
    photo = tmp_path / "x.png"
    Image.fromarray(np.full((150, 140, 3), 90, np.uint8)).save(photo)
    found = app.explain(str(photo))
    assert found.overlay.shape[:2] == (150, 140)
