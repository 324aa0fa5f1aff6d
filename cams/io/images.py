"""Reading images as the models see them: one file as RGB, resized, and a class-per-folder set
with its lesion masks (DIR/<class>/*.png, masks in DIR/masks/<class>/ under the same names).

Every loader returns uint8 RGB (size, size, 3) arrays, what a model's preprocessing then takes.
A corrupt or non-image file in a folder is skipped with a warning naming it.
"""
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MASKS_DIR = "masks"  # a folder of that name beside the class folders holds lesion masks
ROI_DIR = "roi"  # and one of that name the regions where evidence should be (the shortcut audit)


class DataError(ValueError):
    """A data set that cannot be used, with what was expected."""


class BadFile(ValueError):
    """One file that cannot be read as an image, with the reason (one sentence that quotes
    nothing from inside the file: a DICOM's elements may name a patient)."""


def read_rgb(source):
    """An image file or file-like (PNG, JPEG, grayscale, RGB, RGBA, 16-bit) as PIL RGB."""
    with Image.open(source) as img:
        img.load()
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(img, dtype=np.float64)
            peak = 65535.0 if array.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
            gray = np.clip(array / peak * 255.0, 0, 255).astype(np.uint8)
            img = Image.fromarray(gray, "L")
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        return img.convert("RGB")


def height_width(size):
    """(H, W) as ints from a size that is (H, W) or one int (a square)."""
    h, w = (size, size) if np.ndim(size) == 0 else size
    return int(h), int(w)


def resize(img, size):
    """A PIL image as uint8 RGB array (size, size, 3), bilinear; size may be (H, W)."""
    h, w = height_width(size)
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def read_image(path, size):
    """The image at `path` as uint8 RGB (H, W, 3) for size (H, W) (or an int, square): PNG,
    JPEG, BMP, TIFF, GIF (grayscale, RGB, RGBA, 16-bit) or DICOM (the file's own window; the
    first frame of a series). Every tool of cams reads its files with this function.
    Raises BadFile saying why it cannot be read."""
    from cams.io import dicom

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadFile("no such file")
    try:
        if path.lower().endswith(".dcm") or dicom.is_dicom(path):
            gray = Image.fromarray(dicom.read(path).windowed())
            return resize(gray.convert("RGB"), size)
        return resize(read_rgb(path), size)
    except ImportError as err:
        raise BadFile(f"cannot read DICOM: {err}") from None
    except UnidentifiedImageError:
        raise BadFile("not an image PIL can read (corrupt, empty or another kind of "
                      "file)") from None
    except (OSError, ValueError, SyntaxError) as err:
        # cams.io.dicom's messages quote nothing from the file; PIL's may quote the path only.
        raise BadFile(str(err).replace(path, os.path.basename(path)) or type(err).__name__) \
            from None


def try_load(path, size):
    """read_image, or None with a warning naming the file when it cannot be read."""
    try:
        return read_image(path, size)
    except BadFile as err:
        warnings.warn(f"skipping {path}: not a readable image ({err})", stacklevel=2)
        return None


def class_folders(root):
    """Sorted class folder names under `root` (the masks and roi folders are not classes)."""
    if not os.path.isdir(root):
        raise DataError(f"no folder at {root}; expected {root}/<class name>/<image files>")
    return sorted(d for d in os.listdir(root)
                  if os.path.isdir(os.path.join(root, d)) and d not in (MASKS_DIR, ROI_DIR)
                  and not d.startswith("."))


def load_folder(root, size=224):
    """(images uint8 (N, size, size, 3), labels int (N,), class names, file paths) of a set;
    size may be (H, W)."""
    names = class_folders(root)
    images, labels, paths = [], [], []
    for label, name in enumerate(names):
        folder = os.path.join(root, name)
        for fname in sorted(os.listdir(folder)):
            path = os.path.join(folder, fname)
            if not os.path.isfile(path) or fname.startswith("."):
                continue
            image = try_load(path, size)
            if image is not None:
                images.append(image)
                labels.append(label)
                paths.append(path)
    if len(names) < 2 or len(set(labels)) < 2:
        raise DataError(f"{root} needs at least two class folders with images, e.g. "
                        f"{root}/normal/*.png and {root}/covid/*.png; found "
                        + (", ".join(f"{n}: {labels.count(i)}" for i, n in enumerate(names))
                           or "no class folders"))
    return np.stack(images), np.asarray(labels, np.int32), names, paths


def binary_mask(gray):
    """The one mask rule of every tool: a pixel is inside when it reaches half the mask's own
    largest value, so that 0/1 and 0/255 masks both work, and a JPEG's ringing near 0 does not.
    gray: a 2-D array; an empty (all-zero) mask stays empty."""
    gray = np.asarray(gray)
    peak = gray.max(initial=0)
    return gray >= peak / 2 if peak > 0 else np.zeros(gray.shape, bool)


def read_mask(source, size=None):
    """One mask file (any image mode) as bool (H, W) by binary_mask, resized (nearest) to size
    (H, W) or an int when given."""
    with Image.open(source) as m:
        gray = m.convert("L")
        if size is not None:
            h, w = height_width(size)
            gray = gray.resize((w, h), Image.NEAREST)
        return binary_mask(np.asarray(gray))


def load_masks(root, paths, size):
    """Lesion masks (N, size, size) bool for `paths`, and which images have one (N,) bool;
    size may be (H, W)."""
    h, w = height_width(size)
    masks = np.zeros((len(paths), h, w), bool)
    has = np.zeros(len(paths), bool)
    for i, path in enumerate(paths):
        rel = os.path.relpath(path, root)
        mask_path = os.path.join(root, MASKS_DIR, rel)
        if os.path.isfile(mask_path):
            masks[i] = read_mask(mask_path, (h, w))
            has[i] = masks[i].any()
    return masks, has
