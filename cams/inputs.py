"""Checks of what a caller passes to cams.explain, each failing with a message that says what
was wrong and what is accepted."""
import numbers

import numpy as np


def check_choice(kind, value, allowed):
    """`value` if it is one of `allowed`, else ValueError naming them."""
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}")
    return value


def check_images(images, input_shape):
    """The batch as float32 (N, H, W, C), checked against the model's input shape."""
    try:
        x = np.asarray(images, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"images must be a numeric array (N, H, W, C); {err}") from None
    expected = "(N, " + ", ".join("any" if d is None else str(d) for d in input_shape[1:]) + ")"
    if x.ndim != 4:
        hint = " (add a batch axis: images[None])" if x.ndim == 3 else ""
        raise ValueError(f"images must be a batch of shape {expected}; got shape {x.shape}{hint}")
    if x.shape[0] == 0:
        raise ValueError("images is an empty batch; pass at least one image")
    for axis, name in ((3, "channels"), (1, "height"), (2, "width")):
        want = input_shape[axis]
        if want is not None and x.shape[axis] != want:
            raise ValueError(f"images have {x.shape[axis]} {name} but the model takes {want}: "
                             f"expected {expected}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values; pass finite, preprocessed pixels")
    return x


def check_classes(class_index, n_images, n_classes):
    """Class per image as int32 (N,), -1 where the predicted class is wanted (class_index None)."""
    if class_index is None:
        return np.full(n_images, -1, np.int32)
    values = [class_index] if _is_int(class_index) else class_index
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"class_index must be None, an int or one int per image; "
                        f"got {type(class_index).__name__}") from None
    if not all(_is_int(v) for v in values):
        raise TypeError(f"class_index must be None, an int or one int per image; got {class_index!r}")
    if len(values) == 1:
        values = values * n_images
    if len(values) != n_images:
        raise ValueError(f"class_index has {len(values)} entries for {n_images} images; "
                         "give one int, or one per image")
    for v in values:
        if not 0 <= v < n_classes:
            raise ValueError(f"class_index {v} is out of range: the model has {n_classes} "
                             f"classes (0..{n_classes - 1})")
    return np.asarray(values, np.int32)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
