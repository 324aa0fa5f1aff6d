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
    """Class per image as int32 (N,), -1 where the predicted class is wanted (class_index None);
    or (N, L) for several classes per image: class_index "all", or one list per image."""
    if isinstance(class_index, str):
        if class_index != "all":
            raise ValueError(f"class_index {class_index!r} is not understood; give None, an int, "
                             "one int per image, one list of ints per image, or 'all'")
        return np.tile(np.arange(n_classes, dtype=np.int32), (n_images, 1))
    if class_index is None:
        return np.full(n_images, -1, np.int32)
    if _is_nested(class_index):
        return _check_lists(class_index, n_images, n_classes)
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
    _check_range(values, n_classes)
    return np.asarray(values, np.int32)


def _is_nested(class_index):
    try:
        return len(class_index) > 0 and all(not _is_int(v) and hasattr(v, "__len__")
                                            for v in class_index)
    except TypeError:
        return False


def _check_lists(class_index, n_images, n_classes):
    lists = [list(v) for v in class_index]
    if len(lists) != n_images:
        raise ValueError(f"class_index has {len(lists)} lists for {n_images} images; give one "
                         "list of classes per image")
    if len({len(v) for v in lists}) != 1 or not lists[0]:
        raise ValueError("class_index lists must all name the same number (>= 1) of classes; got "
                         f"lengths {[len(v) for v in lists]}")
    for v in lists:
        if not all(_is_int(c) for c in v):
            raise TypeError(f"class_index lists must hold ints; got {v!r}")
        _check_range(v, n_classes)
    return np.asarray(lists, np.int32)


def _check_range(values, n_classes):
    for v in values:
        if not 0 <= v < n_classes:
            if n_classes == 1:
                raise ValueError(f"class_index {v} is out of range: a one-output regression head "
                                 "has only class 0 (\"the output\"); give None or 0")
            raise ValueError(f"class_index {v} is out of range: the model has {n_classes} "
                             f"classes (0..{n_classes - 1})")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
