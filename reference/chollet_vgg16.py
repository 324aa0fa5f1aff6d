"""Grad-CAM as in Deep Learning with Python (Chollet, 5.4.3), VGG16 and class 251 "dalmatian".

The recipe as written: tf_keras VGG16, K.gradients of output[:, 251] w.r.t. block5_conv3,
K.mean over axes (0, 1, 2), K.function, channel weighting, mean over channels, relu / max,
cv2 JET, 0.4 * heatmap + image. It runs in its own tf.Graph and Session, so the process stays
eager and it can share a pytest process with everything else.

    python -m reference.chollet_vgg16 IMAGE --weights imagenet|none [--out DIR]
"""
import argparse
import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras import backend as K
from tf_keras.applications.vgg16 import VGG16, decode_predictions, preprocess_input


def gradcam(x, weights="imagenet", class_index=251, layer_name="block5_conv3"):
    """(heatmap (14, 14), predictions (1, 1000)) for one preprocessed image x (1, 224, 224, 3).

    weights: "imagenet", None (random), or a list of arrays in VGG16's get_weights() order.
    """
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph).as_default():
        model = VGG16(weights="imagenet" if isinstance(weights, str) else None)
        if isinstance(weights, list):
            model.set_weights(weights)
        preds = model.predict(x, verbose=0)

        class_output = model.output[:, class_index]
        last_conv_layer = model.get_layer(layer_name)
        grads = K.gradients(class_output, last_conv_layer.output)[0]
        pooled_grads = K.mean(grads, axis=(0, 1, 2))
        iterate = K.function([model.input], [pooled_grads, last_conv_layer.output[0]])
        pooled_grads_value, conv_layer_output_value = iterate([x])

    for i in range(conv_layer_output_value.shape[-1]):
        conv_layer_output_value[:, :, i] *= pooled_grads_value[i]
    heatmap = np.mean(conv_layer_output_value, axis=-1)
    heatmap = np.maximum(heatmap, 0)
    heatmap /= np.max(heatmap)
    return heatmap, preds


def superimpose(img_path, heatmap):
    """The book's overlay: JET heatmap resized to the image, 0.4 * heatmap + image (BGR)."""
    import cv2

    img = cv2.imread(img_path)
    heatmap = cv2.resize(heatmap, (img.shape[1], img.shape[0]))
    heatmap = np.uint8(255 * heatmap)
    heatmap = cv2.applyColorMap(heatmap, cv2.COLORMAP_JET)
    return heatmap, heatmap * 0.4 + img


def load_image(img_path):
    """The book's input: 224x224 RGB, VGG16 preprocessing, batch of one."""
    img = tf_keras.utils.load_img(img_path, target_size=(224, 224))
    x = tf_keras.utils.img_to_array(img)
    x = np.expand_dims(x, axis=0)
    return preprocess_input(x)


def main(argv=None):
    from reference.downloads import download_or_exit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--weights", choices=("imagenet", "none"), default="imagenet")
    parser.add_argument("--class-index", type=int, default=251)
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.image):
        parser.error(f"no image at {args.image}")

    import cv2

    x = load_image(args.image)
    weights = "imagenet" if args.weights == "imagenet" else None
    with download_or_exit("the VGG16 ImageNet weights"):
        heatmap, preds = gradcam(x, weights, args.class_index)
    if args.weights == "imagenet":
        with download_or_exit("the ImageNet class index"):
            print("Predicted:", decode_predictions(preds, top=3)[0])
    else:
        top = np.argsort(preds[0])[::-1][:3]
        print("Predicted (random weights, class indices):", [(int(i), float(preds[0, i])) for i in top])
    heat_bgr, superimposed = superimpose(args.image, heatmap)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.image))[0]
    cv2.imwrite(os.path.join(args.out, f"{stem}_heatmap.png"), heat_bgr)
    cv2.imwrite(os.path.join(args.out, f"{stem}_cam.jpg"), superimposed)
    print(f"Saved {stem}_heatmap.png and {stem}_cam.jpg in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
