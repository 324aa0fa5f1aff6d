"""The classifiers the audit benchmark trains: the tiny CNNs the thresholds were first chosen on,
train's own transfer recipe (the shipped model's MobileNetV2, cut at block 13, a global max
pooling head) and train's small vision transformer, each from random weights, seeded.

ARCHS: name -> Arch(build(size, seed) -> model, preprocess name, {layer name: its path for
cams}, default methods "METHOD@LAYER"). Every model takes RGB 0..255 after `preprocess`.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Arch:
    """How to build one kind of model, feed it, and which of its layers the audit explains."""
    build: object
    preprocess: str
    layers: dict
    methods: tuple
    lr: float = 3e-3


WIDTHS = {4: (16, 32, 32, 64),   # the CNN the thresholds were first chosen on
          3: (16, 32, 64)}       # a receptive field of about a lesion (18 px at 64 px)


def tiny_cnn(size, seed, blocks=4):
    """A CNN of 3x3 convolutions conv1, conv2, ... (filters WIDTHS[blocks]), each but the last
    followed by 2x2 max pooling, then global max pooling (the class score is the strongest
    cell) and a softmax over the 2 classes; input RGB 0..255. With 4 blocks the last layer
    sits at 1/8 of the input, with 3 at 1/4."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    x = inputs = keras.Input((size, size, 3))
    x = L.Rescaling(1 / 255.0)(x)
    for i, filters in enumerate(WIDTHS[blocks], start=1):
        x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < blocks:
            x = L.MaxPooling2D(name=f"pool{i}")(x)
    x = L.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax", name="predictions")(x))


def mobilenetv2(size, seed):
    """train's shipped recipe without its mask guidance (users have no masks): MobileNetV2
    (alpha 0.35) from random weights, nested, cut at block_13_expand_relu (1/16 of the input),
    global max pooling head."""
    import keras

    from train import model as models

    keras.utils.set_random_seed(seed)
    net, _, _ = models.build("mobilenetv2", 2, size, None, alpha=0.35, freeze=False,
                                pooling="max", base_end="block_13_expand_relu")
    return net


def vit(size, seed):
    """train's own transformer (`python -m train --backbone vit`): 16-pixel patches, four
    pre-norm blocks over the patch tokens (no class token), a global max pooling head, from
    random weights."""
    import keras

    from train import model as models

    keras.utils.set_random_seed(seed)
    net, _, _ = models.build("vit", 2, size, None, freeze=False, pooling="max")
    return net


_MNV2 = "mobilenetv2_0.35_{size}"
ARCHS = {
    "cnn4": Arch(lambda size, seed: tiny_cnn(size, seed, 4), "none",
                 {f"conv{i}": f"conv{i}" for i in range(1, 5)},
                 ("gradcam@conv4", "gradcam@conv3", "layercam@conv3", "hirescam@conv3")),
    "cnn3": Arch(lambda size, seed: tiny_cnn(size, seed, 3), "none",
                 {f"conv{i}": f"conv{i}" for i in range(1, 4)},
                 ("gradcam@conv3", "gradcam@conv2", "layercam@conv3", "hirescam@conv3")),
    "mobilenetv2": Arch(mobilenetv2, "mobilenetv2",
                        {"block_13_expand_relu": _MNV2 + "/block_13_expand_relu",
                         "block_6_expand_relu": _MNV2 + "/block_6_expand_relu"},
                        ("gradcam@block_13_expand_relu", "gradcam@block_6_expand_relu",
                         "hirescam@block_13_expand_relu"), lr=1e-3),
    "vit": Arch(vit, "vit", {f"block{i}_out": f"vit/block{i}_out" for i in range(1, 5)},
                ("hirescam@block4_out", "gradcam@block4_out", "hirescam@block3_out"), lr=1e-3),
}


def layer_path(arch, layer, size):
    """The cams layer path of `layer` (a key of ARCHS[arch].layers) in a model of that input
    size."""
    return ARCHS[arch].layers[layer].format(size=size)


def train(arch, x, y, seed, epochs, lr=None):
    """An ARCHS[arch] model trained on RGB x (n, S, S, 3) uint8 and labels y (n,), at learning
    rate lr (default: the arch's)."""
    import keras

    from cams.io import preprocessing

    spec = ARCHS[arch]
    model = spec.build(x.shape[1], seed)
    model.compile(keras.optimizers.Adam(lr or spec.lr), "sparse_categorical_crossentropy")
    prep = preprocessing.get(spec.preprocess)
    model.fit(prep(x.astype(np.float32)), y, batch_size=32, epochs=epochs, verbose=0,
              shuffle=True)
    return model


def balanced_accuracy(model, arch, x, y):
    """Mean of the per-class accuracies of the model on RGB x (n, S, S, 3), labels y."""
    from cams.io import preprocessing

    prep = preprocessing.get(ARCHS[arch].preprocess)
    pred = np.asarray(model.predict(prep(x.astype(np.float32)), verbose=0,
                                    batch_size=64)).argmax(1)
    return float(np.mean([(pred[y == c] == c).mean() for c in (0, 1)]))
