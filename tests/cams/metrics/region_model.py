"""A model whose evidence is known exactly: the probability of class 1 rises with the mean of
the pixels inside a fixed region, and nothing outside the region matters."""
import keras
import numpy as np

SIZE = 12


def region():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[2:6, 3:8] = True
    return mask


def build(activation="sigmoid"):
    """Input (12, 12, 1) -> Flatten -> Dense(1): z = 12 * (mean over the region) - 7."""
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(1, activation=activation)(x)
    model = keras.Model(inputs, outputs)
    kernel = (region().ravel() * 12.0 / region().sum())[:, None].astype(np.float32)
    model.layers[-1].set_weights([kernel, np.array([-7.0], np.float32)])
    return model


def probability(x):
    """The model's class-1 probability by hand."""
    z = 12.0 * np.asarray(x)[..., 0][:, region()].mean(axis=1) - 7.0
    return 1 / (1 + np.exp(-z))


def image():
    """A bright region on a dark background, with texture: the evidence is where it looks."""
    rng = np.random.default_rng(0)
    x = np.where(region(), 0.9, 0.15) + rng.uniform(-0.05, 0.05, (SIZE, SIZE))
    return x[None, :, :, None].astype(np.float32)
