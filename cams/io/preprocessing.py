"""Input preprocessing by name, as recorded in a model's .json: RGB in [0, 255] -> model input."""
import numpy as np

# name -> (what it does, function on float arrays or tensors)
PREPROCESSING = {
    "mobilenetv2": ("x / 127.5 - 1", lambda x: x / 127.5 - 1.0),
    "vgg16": ("RGB->BGR minus the ImageNet channel means (caffe)",
              lambda x: x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)),
    "densenet121": ("x / 255, minus ImageNet mean, over ImageNet std (torch)",
                    lambda x: (x / 255.0 - np.array([0.485, 0.456, 0.406], np.float32))
                    / np.array([0.229, 0.224, 0.225], np.float32)),
    "efficientnetb0": ("pixels as they are, 0..255 (the model rescales and normalizes them "
                       "itself)", lambda x: x),
    "vit": ("x / 127.5 - 1", lambda x: x / 127.5 - 1.0),
    "unit": ("x / 255", lambda x: x / 255.0),
    "none": ("pixels as they are, 0..255", lambda x: x),
}


def get(name):
    """The preprocessing function called `name`."""
    if name not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {name!r}; known: {', '.join(PREPROCESSING)}")
    return PREPROCESSING[name][1]


def describe(name):
    """A short human description of the preprocessing called `name`."""
    return PREPROCESSING[name][0]
