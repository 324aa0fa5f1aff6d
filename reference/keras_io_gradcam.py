"""Grad-CAM as in the keras.io example "Grad-CAM class activation visualization" (Keras 3).

make_gradcam_heatmap is the tutorial's eager function. The tutorial removes the last layer's
softmax in place (`model.layers[-1].activation = None`); `without_softmax` does the same on a
clone, so the caller's model is left as it was.

    python -m reference.keras_io_gradcam IMAGE --weights imagenet|none [--out DIR]
"""
import argparse
import os
import sys

import keras
import matplotlib as mpl
import numpy as np
import tensorflow as tf


def get_img_array(img_path, size):
    img = keras.utils.load_img(img_path, target_size=size)
    array = keras.utils.img_to_array(img)
    array = np.expand_dims(array, axis=0)
    return array


def make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
    """The tutorial's heatmap (h, w): relu(A @ mean(grads)) / max, for the first image."""
    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(last_conv_layer_name).output, model.output])

    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]

    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def without_softmax(model):
    """A clone of `model` whose last layer has no activation, as the tutorial sets it."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.layers[-1].activation = None
    return clone


def save_and_display_gradcam(img_path, heatmap, cam_path="cam.jpg", alpha=0.4):
    img = keras.utils.load_img(img_path)
    img = keras.utils.img_to_array(img)
    heatmap = np.uint8(255 * heatmap)
    jet = mpl.colormaps["jet"]
    jet_colors = jet(np.arange(256))[:, :3]
    jet_heatmap = jet_colors[heatmap]
    jet_heatmap = keras.utils.array_to_img(jet_heatmap)
    jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]))
    jet_heatmap = keras.utils.img_to_array(jet_heatmap)
    superimposed_img = jet_heatmap * alpha + img
    superimposed_img = keras.utils.array_to_img(superimposed_img)
    superimposed_img.save(cam_path)


def main(argv=None):
    from reference.downloads import download_or_exit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--weights", choices=("imagenet", "none"), default="imagenet")
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.image):
        parser.error(f"no image at {args.image}")

    xception = keras.applications.xception
    img_array = xception.preprocess_input(get_img_array(args.image, size=(299, 299)))
    with download_or_exit("the Xception ImageNet weights"):
        model = xception.Xception(weights="imagenet" if args.weights == "imagenet" else None)
    preds = model.predict(img_array, verbose=0)
    if args.weights == "imagenet":
        with download_or_exit("the ImageNet class index"):
            print("Predicted:", xception.decode_predictions(preds, top=1)[0])
    heatmap = make_gradcam_heatmap(img_array, without_softmax(model), "block14_sepconv2_act")
    os.makedirs(args.out, exist_ok=True)
    cam_path = os.path.join(args.out, "cam.jpg")
    save_and_display_gradcam(args.image, heatmap, cam_path)
    print(f"Saved {cam_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
