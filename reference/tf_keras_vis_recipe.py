"""Grad-CAM and Grad-CAM++ with tf-keras-vis on Fashion-MNIST, as the article does it.

A small CNN (Conv2D + BatchNormalization stack, last conv named "final", Dense softmax),
Gradcam and GradcamPlusPlus with a linear model modifier, penultimate_layer=-1 (seek the last
conv), and a side-by-side figure saved as PNG.

    python -m reference.tf_keras_vis_recipe [--epochs 2] [--out DIR]
"""
import argparse
import os
import sys

import keras
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def build_cnn():
    """The article's CNN for 28x28x1 images and 10 classes."""
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="final")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


def cams(model, images, classes, expand_cam=True, normalize_cam=True):
    """(Grad-CAM, Grad-CAM++) maps of `images` for `classes`, computed by tf-keras-vis."""
    score = CategoricalScore(list(classes))
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    gradcam_pp = GradcamPlusPlus(model, model_modifier=ReplaceToLinear(), clone=True)
    options = dict(penultimate_layer=-1, expand_cam=expand_cam, normalize_cam=normalize_cam)
    return (np.asarray(gradcam(score, images, **options)),
            np.asarray(gradcam_pp(score, images, **options)))


def figure(images, labels, cam, cam_pp, path):
    """Rows: image, Grad-CAM, Grad-CAM++; one column per image. Saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(2 * n, 6))
    axes = np.asarray(axes).reshape(3, n)
    for i in range(n):
        axes[0, i].imshow(images[i, ..., 0], cmap="gray")
        axes[0, i].set_title(labels[i], fontsize=9)
        for row, maps, name in ((1, cam, "Grad-CAM"), (2, cam_pp, "Grad-CAM++")):
            axes[row, i].imshow(images[i, ..., 0], cmap="gray")
            axes[row, i].imshow(maps[i], cmap="jet", alpha=0.5)
            axes[row, i].set_title(name, fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    from reference.downloads import download_or_exit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)

    with download_or_exit("the Fashion-MNIST data set"):
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train = x_train[..., None].astype("float32") / 255.0
    x_test = x_test[..., None].astype("float32") / 255.0
    model = build_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, validation_split=0.1)
    images, labels = x_test[:8], y_test[:8]
    cam, cam_pp = cams(model, images, labels)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fashion_mnist_gradcam.png")
    figure(images, [CLASS_NAMES[i] for i in labels], cam, cam_pp, path)
    print(f"Saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
