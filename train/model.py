"""Transfer-learning classifiers: a backbone (nested as a layer, or flat) and a small head."""
import keras

from train import BACKBONES

# backbone -> (application, layer names that start its last block, default Grad-CAM layer)
_SPECS = {
    "vgg16": ("VGG16", ("block5_",), "block5_conv3"),
    "mobilenetv2": ("MobileNetV2", ("block_16_", "Conv_1", "out_relu"), "out_relu"),
    "densenet121": ("DenseNet121", ("conv5_block16_", "bn", "relu"), "relu"),
    "efficientnetb0": ("EfficientNetB0", ("block7a_", "top_"), "top_activation"),
    "vit": (None, ("norm",), "norm"),  # train.vit, random initialization only
}


def head_layers(backbone, n_classes, pooling="avg"):
    """The head: seed 000's for vgg16, a global pooling head (seed 003's average) otherwise.

    pooling="max" makes the class score the strongest single cell: a weakly supervised model
    then has to fire on the lesion itself and stay quiet elsewhere (Oquab et al. 2015).
    """
    if backbone == "vgg16":
        return [keras.layers.AveragePooling2D(pool_size=(4, 4), name="head_pool"),
                keras.layers.Flatten(name="head_flatten"),
                keras.layers.Dense(128, activation="relu", name="head_dense"),
                keras.layers.Dropout(0.6, name="head_dropout"),
                keras.layers.Dense(n_classes, activation="softmax", name="predictions")]
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max'; got {pooling!r}")
    if backbone == "vit":  # over the patch tokens
        pool = keras.layers.GlobalMaxPooling1D if pooling == "max" else keras.layers.GlobalAveragePooling1D
    else:
        pool = keras.layers.GlobalMaxPooling2D if pooling == "max" else keras.layers.GlobalAveragePooling2D
    return [pool(name="head_pool"),
            keras.layers.Dropout(0.2, name="head_dropout"),
            keras.layers.Dense(n_classes, activation="softmax", name="predictions")]


def base_model(backbone, size=224, weights=None, alpha=1.0, end=None):
    """The backbone without its top; weights "imagenet" or None (random).

    end="<layer name>" keeps the backbone only up to that layer: a finer last feature map, as
    CAM networks do (Zhou et al. 2016 cut VGG after conv5 to keep a 14x14 map).
    """
    if backbone not in _SPECS:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    if backbone == "vit":
        from train import vit

        if weights is not None:
            raise ValueError("the vit backbone has no ImageNet weights here; use --weights none")
        if end is not None:
            raise ValueError("--base-end applies to the convolutional backbones, not vit")
        return vit.build(size)
    app = getattr(keras.applications, _SPECS[backbone][0])
    kwargs = {"alpha": alpha} if backbone == "mobilenetv2" else {}
    base = app(include_top=False, weights=weights, input_shape=(size, size, 3), **kwargs)
    if end is None:
        return base
    names = [layer.name for layer in base.layers]
    if end not in names:
        raise ValueError(f"{base.name} has no layer {end!r} to end at")
    return keras.Model(base.inputs, base.get_layer(end).output, name=base.name)


def build(backbone, n_classes, size=224, weights=None, nested=True, fine_tune=False, alpha=1.0,
          freeze=None, base_size=None, pooling="avg", base_end=None):
    """(model, base, head) for RGB input (size, size, 3), preprocessed for the backbone.

    The base is frozen by default with ImageNet weights (its last block trainable with
    fine_tune) and trained with the head with random weights; `freeze` overrides that.
    `head` is the list of head layers, shared by the model. With base_size < size the model
    first resizes its input and runs the base at base_size (cheaper; nested only).
    """
    base_size = base_size or size
    if base_size != size and not nested:
        raise ValueError("a base_size different from the input size needs a nested base")
    base = base_model(backbone, base_size, weights, alpha, base_end)
    frozen = weights is not None if freeze is None else freeze
    set_trainable(base, backbone, frozen=frozen, fine_tune=fine_tune)
    head = head_layers(backbone, n_classes, pooling)
    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    if base_size != size:
        # An exact factor is average pooling, which (unlike area resizing) has a gradient:
        # methods that differentiate down to the input pixels need one.
        x = (keras.layers.AveragePooling2D(size // base_size, name="downsample")(x)
             if size % base_size == 0 else
             keras.layers.Resizing(base_size, base_size, interpolation="bilinear",
                                   name="downsample")(x))
    x = base(x, training=False) if nested else None
    if not nested:
        inputs, x = base.inputs[0], base.outputs[0]
    for layer in head:
        x = layer(x)
    name = f"{backbone}_{'nested' if nested else 'flat'}"
    return keras.Model(inputs, x, name=name), base, head


def set_trainable(base, backbone, frozen, fine_tune=False):
    """Freeze the base (ImageNet features), optionally leaving its last block trainable."""
    if not frozen:
        base.trainable = True
        for layer in base.layers:
            # Keras' default 0.999 needs thousands of steps before the moving statistics mean
            # anything: validation of a base trained from scratch would be noise for many epochs.
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
        return
    if not fine_tune:
        base.trainable = False
        return
    base.trainable = True
    starts = _SPECS[backbone][1]
    if not any(layer.name.startswith(starts) for layer in base.layers):
        raise ValueError(f"{base.name} has no layer of its last block ({', '.join(starts)}) "
                         "to fine-tune: it was cut short")
    for layer in base.layers:
        layer.trainable = layer.name.startswith(starts)


def default_cam_layer(backbone, base, nested=True, name=None):
    """The Grad-CAM layer path to record: `name` inside the base, or the backbone's default
    (the base's last layer when the backbone was cut short)."""
    names = [layer.name for layer in base.layers]
    if name is None:
        default = _SPECS[backbone][2]
        name = default if default in names else names[-1]
    if name not in names:
        raise ValueError(f"{base.name} has no layer {name!r}")
    return f"{base.name}/{name}" if nested else name


def head_model(base, head):
    """The head alone, on the base's features: trains the same layers from cached features."""
    inputs = keras.Input(tuple(base.outputs[0].shape[1:]), name="features")
    x = inputs
    for layer in head:
        x = layer(x)
    return keras.Model(inputs, x, name="head")
