"""Seeded test models: the shapes users bring (flat, nested base, softmax or sigmoid heads)."""
import keras
import numpy as np

from reference.tf_keras_vis_recipe import build_cnn


def vgg16():
    """Chollet's VGG16 (with its 1000-class softmax top), seeded random weights."""
    keras.utils.set_random_seed(0)
    return keras.applications.VGG16(weights=None)


def vgg16_transfer(size=224, library=keras):
    """Seed 000's transfer model: VGG16 base nested as a layer, then its small softmax head;
    library=tf_keras builds it the Keras 2 way."""
    library.utils.set_random_seed(1)
    base = library.applications.VGG16(weights=None, include_top=False,
                                      input_shape=(size, size, 3))
    inputs = library.Input((size, size, 3))
    x = base(inputs, training=False)
    x = library.layers.AveragePooling2D(pool_size=(4, 4), name="head_pool")(x)
    x = library.layers.Flatten(name="head_flatten")(x)
    x = library.layers.Dense(128, activation="relu", name="head_dense")(x)
    x = library.layers.Dropout(0.6, name="head_dropout")(x)
    outputs = library.layers.Dense(2, activation="softmax", name="predictions")(x)
    return library.Model(inputs, outputs, name="covid_vgg16")


def fashion_cnn():
    """The tf-keras-vis article's Fashion-MNIST CNN, seeded."""
    keras.utils.set_random_seed(2)
    return build_cnn()


def mobilenet_sigmoid(size=128):
    """MobileNetV2 nested as a layer with a single-unit sigmoid head (a binary classifier).

    With random weights every cell of the last feature map shares a large common component, so
    the map of one of the two classes would be zero everywhere. The head's kernel is therefore
    made orthogonal to the pooled features of the calibration images: over each of those
    images the map then sums to zero, and both classes light up somewhere.
    """
    keras.utils.set_random_seed(3)
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False,
                                          weights=None)
    inputs = keras.Input((size, size, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="tb_mobilenetv2")
    pooled = base.predict(mobilenet_images(), verbose=0).mean(axis=(1, 2)).astype(np.float64)
    kernel, bias = model.layers[-1].get_weights()
    v = kernel[:, 0].astype(np.float64)
    v -= pooled.T @ np.linalg.solve(pooled @ pooled.T, pooled @ v)
    model.layers[-1].set_weights([v[:, None].astype(np.float32), bias])
    return model


def mobilenet_images(size=128):
    """The images the MobileNetV2 test model is calibrated on."""
    return images((size, size, 3), 2, seed=13)


def small_binary():
    """A small flat CNN with a single-unit sigmoid head whose outputs vary from image to image."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", bias_initializer="ones")(x)
    return keras.Model(inputs, outputs, name="small_binary")


def two_class_cnn(shape=(32, 32, 3), convs=1, filters=4, seed=0, name=None):
    """A seeded CNN on input `shape` (H and W may be None): `convs` 3x3 ReLU convolutions with
    "same" padding, named conv (one) or conv1, conv2, ...; global average pooling; a softmax
    over 2 classes. The small model the command-line tests save and read back."""
    keras.utils.set_random_seed(seed)
    inputs = x = keras.Input(shape)
    for i in range(1, convs + 1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name="conv" if convs == 1 else f"conv{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x), name=name)


def images(shape, n, seed, low=-1.0, high=1.0):
    """n seeded smooth random images of `shape` (H, W, C) with values in [low, high]."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    coarse = rng.uniform(size=(n, max(2, h // 8), max(2, w // 8), c))
    import cv2
    smooth = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, c)
                       for im in coarse])
    fine = rng.uniform(size=(n, h, w, c))
    mixed = 0.8 * smooth + 0.2 * fine
    return (low + (high - low) * np.clip(mixed, 0, 1)).astype(np.float32)


def vgg_images(n, seed):
    """Photos-like arrays preprocessed as VGG16 wants (caffe BGR mean subtraction)."""
    return keras.applications.vgg16.preprocess_input(images((224, 224, 3), n, seed, 0, 255))
