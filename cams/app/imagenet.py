"""The ImageNet tab's model: VGG16 with ImageNet weights, explained by cams' graph backend (the
K.gradients recipe of Deep Learning with Python), class 251 "dalmatian" by default. The weights
are loaded on first use; where they cannot be downloaded, the tab says so in one sentence."""
import numpy as np

import cams
from cams.io import images
from cams.app.uploads import BadInput, read_upload

LAYER = "block5_conv3"


def load_vgg16():
    """VGG16 with ImageNet weights (downloaded once into Keras' cache)."""
    import keras

    return keras.applications.VGG16(weights="imagenet")


class ImageNetDemo:
    """Grad-CAM of VGG16 on a photo; remembers a failed download instead of retrying it."""

    def __init__(self, load=load_vgg16):
        self._load, self._model, self.failure = load, None, None

    def _vgg16(self):
        if self.failure:
            raise BadInput(self.failure)
        if self._model is None:
            try:
                self._model = self._load()
            except Exception as err:  # no network: the weights cannot be fetched
                self.failure = ("The ImageNet VGG16 weights cannot be downloaded on this machine "
                                f"(no network access: {type(err).__name__}), so this tab cannot "
                                "run here.")
                raise BadInput(self.failure) from None
        return self._model

    def run(self, source, class_index=251):
        """({class name: probability} of the top 3, overlay RGB at the photo's size, its long
        side at most uploads.DISPLAY_MAX). source: a path or the file's bytes."""
        from keras.applications import vgg16

        model = self._vgg16()
        image = read_upload(source).image
        x = vgg16.preprocess_input(images.resize(image, 224)[None].astype(np.float32))
        # Chollet differentiates the class's softmax output, as score="probability" does.
        res = cams.explain(model, x, layer=LAYER, class_index=int(class_index), backend="graph",
                           score="probability")
        try:
            top = vgg16.decode_predictions(res.outputs, top=3)[0]
        except Exception:  # the class names are a download too
            top = [(None, f"class {i}", res.outputs[0, i])
                   for i in np.argsort(-res.outputs[0])[:3]]
        return ({name: float(p) for _, name, p in top},
                cams.overlay(np.asarray(image), res.heatmaps[0]))
