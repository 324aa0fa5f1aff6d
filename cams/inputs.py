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


def check_inputs(images, spec):
    """(x, extras): the image batch checked as check_images does and the model's other inputs
    in its order, each (N, ...) in its input's dtype. `spec` is the model's layers.Inputs;
    a model with several inputs takes a dict {name: array} or a list in its input order."""
    if len(spec.names) == 1:
        return check_images(images, spec.image_shape), ()
    listed = ", ".join(f"{n} (N, " + ", ".join("any" if d is None else str(d) for d in s[1:])
                       + ")" for n, s in zip(spec.names, spec.shapes))
    if isinstance(images, dict):
        unknown = sorted(set(images) - set(spec.names))
        missing = [n for n in spec.names if n not in images]
        if unknown or missing:
            raise ValueError(f"the model takes inputs {listed}; got "
                             + "; ".join(f"{label} {', '.join(map(str, names))}" for label, names
                                         in (("unknown", unknown), ("missing", missing)) if names))
        values = [images[n] for n in spec.names]
    elif isinstance(images, (list, tuple)) and len(images) == len(spec.names):
        values = list(images)
    else:
        raise ValueError(f"the model takes {len(spec.names)} inputs, {listed}: pass a dict "
                         "{name: array} or a list in that order")
    x = check_images(values[spec.image], spec.image_shape)
    extras = tuple(_check_other(values[k], spec.names[k], spec.shapes[k], spec.dtypes[k], len(x))
                   for k in spec.others)
    return x, extras


def _check_other(value, name, shape, dtype, n_images):
    try:
        given = np.asarray(value)
        array = given.astype(dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"input {name!r} must be a numeric array; {err}") from None
    if given.dtype.kind not in "biuf":
        raise ValueError(f"input {name!r} must be a numeric array; got {given.dtype}")
    if given.dtype.kind == "f" and not np.isfinite(given).all():
        raise ValueError(f"input {name!r} contains NaN or infinite values")
    if array.dtype.kind in "iu" and not np.array_equal(array, given):
        raise ValueError(f"input {name!r} takes {dtype} values; got {given.dtype} values that "
                         "are not whole numbers in its range")
    expected = "(N, " + ", ".join("any" if d is None else str(d) for d in shape[1:]) + ")"
    if array.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(array.shape[1:], shape[1:])):
        raise ValueError(f"input {name!r} must have shape {expected}; got {array.shape}")
    if len(array) != n_images:
        raise ValueError(f"input {name!r} has {len(array)} rows for {n_images} images; give one "
                         "row per image")
    return array


def check_batch_size(batch_size, n_images):
    """How many images to explain at a time: `batch_size`, or all of them when None."""
    if batch_size is None:
        return max(n_images, 1)
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None (every image at once); "
                         f"got {batch_size!r}")
    return int(batch_size)


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
