"""Every keras.applications family, flat and nested as a transfer model's base, computes the same
Grad-CAM in every backend: at the default layer, and at an inner layer of the nested base.

Seeded random weights at small inputs; each image's class is one whose eager map is
non-degenerate (the predicted class first), so that agreement never passes on empty maps.
EfficientNet B1-B7 and EfficientNetV2 S/M/L/B1-B3 share B0's and V2B0's layers (checked by hand);
B0 and V2B0 stand for them.

Building every backend for every family takes most of an hour of a 2-core machine, so by default
only the cases that exercise a family-specific path run (`quick`): EfficientNet's and ConvNeXt's
Normalization constants in the graph backend, ConvNeXt's grouped convolutions (a tf.function
inside the graph backend's graph) and its operation-valued default layer, the convolutional
heads of MobileNet and MobileNetV3. CAMS_ALL_APPLICATIONS=1 runs every family and case.
Small models check the same mechanisms cheaply: a Normalization layer's eager constants, a
layer name clash once flattened, an untracked tf.Variable.
"""
import functools
import os
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams.model import layers
from tests import models
from tests.cams.test_agreement import assert_agree

apps = keras.applications
N_CLASSES = 4


@dataclass(frozen=True)
class Family:
    build: object     # the keras.applications constructor
    module: object    # its module, for preprocess_input
    size: int         # input side: at least the family's minimum
    inner: str        # a layer inside the base, at stride 8-16
    quick: tuple = ()  # the cases that run by default


FAMILIES = {
    "vgg16": Family(apps.VGG16, apps.vgg16, 64, "block4_conv3"),
    "resnet50": Family(apps.ResNet50, apps.resnet, 64, "conv4_block6_out"),
    "resnet50v2": Family(apps.ResNet50V2, apps.resnet_v2, 64, "conv4_block5_out"),
    "inceptionv3": Family(apps.InceptionV3, apps.inception_v3, 75, "mixed5"),
    "inceptionresnetv2": Family(apps.InceptionResNetV2, apps.inception_resnet_v2, 75,
                                "mixed_6a"),
    "xception": Family(apps.Xception, apps.xception, 71, "block13_sepconv2_act"),
    "mobilenet": Family(apps.MobileNet, apps.mobilenet, 64, "conv_pw_11_relu", ("flat",)),
    "mobilenetv2": Family(apps.MobileNetV2, apps.mobilenet_v2, 64, "block_13_expand_relu"),
    "mobilenetv3small": Family(apps.MobileNetV3Small, apps.mobilenet_v3, 64,
                               "expanded_conv_7_add", ("flat",)),
    "mobilenetv3large": Family(apps.MobileNetV3Large, apps.mobilenet_v3, 64,
                               "expanded_conv_11_add"),
    "densenet121": Family(apps.DenseNet121, apps.densenet, 64, "pool4_relu"),
    "nasnetmobile": Family(apps.NASNetMobile, apps.nasnet, 64, "normal_concat_8"),
    "efficientnetb0": Family(apps.EfficientNetB0, apps.efficientnet, 64,
                             "block4a_expand_activation", ("flat", "nested_inner")),
    "efficientnetv2b0": Family(apps.EfficientNetV2B0, apps.efficientnet_v2, 64,
                               "block4a_expand_activation"),
    "convnexttiny": Family(apps.ConvNeXtTiny, apps.convnext, 64,
                           "convnext_tiny_stage_2_block_8_depthwise_conv",
                           ("flat", "nested_inner")),
}
CASES = ("flat", "nested", "nested_inner")
OTHERS = [b for b in cams.BACKENDS if b != "eager"]
EVERY = os.environ.get("CAMS_ALL_APPLICATIONS") == "1"


def usable_classes(model, images, layer):
    """Per image, the most probable class whose eager map is non-degenerate."""
    n = len(images)
    every = cams.explain(model, np.repeat(images, N_CLASSES, axis=0), layer=layer,
                         class_index=np.tile(np.arange(N_CLASSES), n))
    maps = every.heatmaps.reshape((n, N_CLASSES) + every.heatmaps.shape[1:])
    chosen = []
    for i, outputs in enumerate(every.outputs[::N_CLASSES]):
        usable = [c for c in np.argsort(-outputs, kind="stable")
                  if maps[i, c].max() == 1.0 and maps[i, c].std() > 0.05]
        assert usable, f"{model.name} at {layer}: every class's map of image {i} is degenerate"
        chosen.append(int(usable[0]))
    return chosen


class Built:
    """One family's flat and nested models and images, made on first use, and the classes
    each case explains."""

    def __init__(self, family):
        self.family = family
        self._classes = {}

    @functools.cached_property
    def cases(self):
        """{case: (model, layer path or None for the default)}."""
        size = (self.family.size,) * 2 + (3,)
        keras.utils.set_random_seed(0)
        flat = self.family.build(weights=None, input_shape=size, classes=N_CLASSES)
        base = self.family.build(weights=None, include_top=False, input_shape=size)
        inputs = keras.Input(size)
        x = base(inputs, training=False)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(x)
        nested = keras.Model(inputs, outputs, name=f"transfer_{base.name}")
        return {"flat": (flat, None), "nested": (nested, None),
                "nested_inner": (nested, f"{base.name}/{self.family.inner}")}

    @functools.cached_property
    def images(self):
        size = (self.family.size,) * 2 + (3,)
        return self.family.module.preprocess_input(models.images(size, 2, seed=7, low=0,
                                                                 high=255))

    def explain(self, case, backend):
        model, layer = self.cases[case]
        if case not in self._classes:
            self._classes[case] = usable_classes(model, self.images, layer)
        return cams.explain(model, self.images, layer=layer, class_index=self._classes[case],
                            backend=backend)


@pytest.fixture(scope="module", params=FAMILIES)
def built(request):
    """(name, Built) of one family, made once per family, its models only when a test runs."""
    return request.param, Built(FAMILIES[request.param])


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("case", CASES)
def test_backend_agrees_with_eager(built, case, backend):
    name, b = built
    if not (EVERY or case in b.family.quick):
        pytest.skip("slow; CAMS_ALL_APPLICATIONS=1 runs every family and case")
    model, layer = b.cases[case]
    target = layers.resolve(model, layer)
    eager = b.explain(case, "eager")
    assert eager.layer == target.path
    if backend == "tf-keras-vis" and not isinstance(target.layer, keras.layers.Layer):
        # An operation such as ConvNeXt's `x + y` has no layer that tf-keras-vis could find.
        with pytest.raises(ValueError, match="not a layer.*backends eager, graph"):
            b.explain(case, backend)
        return
    other = b.explain(case, backend)
    assert other.layer == eager.layer
    np.testing.assert_array_equal(other.class_index, eager.class_index)
    np.testing.assert_allclose(other.outputs, eager.outputs, rtol=1e-4, atol=1e-6)
    assert_agree(eager.heatmaps, other.heatmaps, f"{name} {case} eager vs {backend}")


def test_layer_name_clash_after_flattening():
    """A head layer named like a base layer: eager and graph agree; tf-keras-vis, which needs
    one flat model with unique names, refuses and names the backends that can."""
    keras.utils.set_random_seed(0)
    base = apps.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 1, name="block5_conv3")(base(inputs, training=False))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(N_CLASSES, activation="softmax")(x))
    images = models.images((32, 32, 3), 1, seed=8, low=-100, high=100)
    layer = "vgg16/block4_conv3"
    classes = usable_classes(model, images, layer)
    eager, graph = (cams.explain(model, images, layer=layer, class_index=classes, backend=b)
                    for b in ("eager", "graph"))
    assert_agree(eager.heatmaps, graph.heatmaps, "name clash eager vs graph")
    with pytest.raises(ValueError, match="used 2 times.*backends eager, graph"):
        cams.explain(model, images, layer=layer, class_index=classes, backend="tf-keras-vis")


def _small_cnn(first):
    """Input -> `first` -> two convolutions -> softmax head, seeded."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(first(inputs))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(N_CLASSES, activation="softmax")(x))


def test_layer_constants_held_as_eager_tensors():
    """Normalization with a given mean and variance holds them as eager tensors (as
    EfficientNet, EfficientNetV2 and ConvNeXt do): the graph backend takes them in by value."""
    model = _small_cnn(keras.layers.Normalization(mean=[120.0, 110.0, 100.0],
                                                  variance=[3600.0, 3000.0, 2500.0]))
    images = models.images((32, 32, 3), 2, seed=9, low=0, high=255)
    classes = usable_classes(model, images, None)
    maps = [cams.explain(model, images, class_index=classes, backend=b) for b in cams.BACKENDS]
    for other in maps[1:]:
        assert_agree(maps[0].heatmaps, other.heatmaps, f"eager vs {other.backend}")


class UntrackedShift(keras.layers.Layer):
    """Adds a raw tf.Variable, which Keras does not track as a weight."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shift = tf.Variable(0.5)

    def call(self, x):
        return x + self.shift


def test_untracked_tensorflow_variable_is_refused_by_the_graph_backend():
    model = _small_cnn(UntrackedShift())
    images = models.images((32, 32, 3), 1, seed=9)
    with pytest.raises(ValueError, match="tf.Variable that Keras does not track.*backends eager"):
        cams.explain(model, images, class_index=[0], backend="graph")
