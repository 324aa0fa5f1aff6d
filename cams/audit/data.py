"""The audit's images and their regions of interest, read once through cams.io.images.read_image.

Regions of interest mirror the data (MASK_RULE below: ROI_DIR/<the image's path as the data
lists it>, else <class>/<file name>, else <file name>), same pixel size, inside by
cams.io.images.binary_mask (0/1 or 0/255). Every check runs before the audit computes or writes
anything.
"""
import os
from dataclasses import dataclass

import numpy as np

from cams.io import sources
from cams.io.images import BadFile, binary_mask, height_width, read_image


@dataclass(frozen=True)
class AuditData:
    """The readable images of a dataset: uint8 RGB (N, H, W, 3), their names (as the dataset
    lists them), labels (class names, or None when unknown), regions of interest bool
    (N, H, W) or None, and the files skipped as (name, reason)."""
    images: np.ndarray
    names: tuple
    labels: tuple
    roi: np.ndarray | None
    skipped: tuple


def _examples(pairs, n=3):
    return "; ".join(f"{a}: {b}" for a, b in pairs[:n]) + (
        f" (and {len(pairs) - n} more)" if len(pairs) > n else "")


def load(data, size, roi=None, max_images=None):
    """The AuditData of `data` (a class-per-folder set, a plain folder or a CSV, as
    cams.io.sources reads them) at size (H, W), or size x size for an int, with masks
    from the folder `roi`.
    ValueError when no image can be read, when there are more than max_images, or when a mask is
    missing, empty or not the size of its image (each error says which files and what is
    accepted)."""
    items = sources.items_of(data)
    if max_images is not None and len(items) > max_images:
        raise ValueError(f"{data} holds {len(items)} images; the audit here takes at most "
                         f"{max_images}")
    H, W = height_width(size)
    images = np.empty((len(items), H, W, 3), np.uint8)  # filled in place: no list to stack
    kept, skipped = [], []
    for item in items:
        try:
            images[len(kept)] = read_image(item.path, size)
            kept.append(item)
        except BadFile as err:
            skipped.append((item.name, str(err)))
    if not kept:
        raise ValueError(f"none of the {len(items)} images under {data} could be read: "
                         f"{_examples(skipped)}; accepted: {sources.ACCEPTED}")
    masks = None if roi is None else load_masks(roi, kept, size)
    return AuditData(images[:len(kept)], tuple(i.name for i in kept),
                     tuple(i.label for i in kept), masks, tuple(skipped))


def _size_of(path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # a DICOM or anything PIL cannot size: its reader already checked it
        return None


MASK_RULE = ("ROI_DIR/<the image's path as the data lists it> (e.g. roi/normal/001.png for "
             "data/normal/001.png), else ROI_DIR/<class>/<file name>, else ROI_DIR/<file name>")


def mask_paths(roi, item):
    """Where the mask of `item` may be, in the order looked up (MASK_RULE): the path as the data
    lists it when that is relative and inside ROI_DIR, then <class>/<file name>, then <file
    name> (for a CSV of absolute paths, or paths relative to the CSV's folder)."""
    name = os.path.normpath(item.name)
    base = os.path.basename(item.path)
    found = [name] if not os.path.isabs(name) and not name.startswith("..") else []
    found += [os.path.join(item.label, base)] if item.label else []
    found.append(base)
    return [os.path.join(roi, p) for p in dict.fromkeys(found)]


def load_masks(roi, items, size):
    """Boolean (N, H, W) regions of interest of `items` found by mask_paths, for size (H, W) or
    an int (square). ValueError naming the images whose mask is missing, unreadable, empty, of
    another size, or the image itself (ROI_DIR given as the data folder)."""
    from PIL import Image

    H, W = height_width(size)
    if not os.path.isdir(roi):
        raise ValueError(f"no folder of masks at {roi}; expected {MASK_RULE}")
    masks, wrong = np.zeros((len(items), H, W), bool), []
    for i, item in enumerate(items):
        candidates = mask_paths(roi, item)
        path = next((p for p in candidates if os.path.isfile(p)), None)
        if path is None:
            wrong.append((item.name, f"no mask at {' nor '.join(candidates)}"))
            continue
        if os.path.realpath(path) == os.path.realpath(item.path):
            wrong.append((item.name, "its mask would be the image itself (is --roi the data "
                                     "folder?)"))
            continue
        try:
            with Image.open(path) as m:
                mask_size = m.size
                gray = np.asarray(m.convert("L").resize((W, H), Image.NEAREST))
        except Exception:
            wrong.append((item.name, "mask is not a readable image"))
            continue
        image_size = _size_of(item.path)
        if image_size is not None and image_size != mask_size:
            wrong.append((item.name, f"mask is {mask_size[0]}x{mask_size[1]} pixels, the image "
                                     f"{image_size[0]}x{image_size[1]}"))
        elif not gray.any():
            wrong.append((item.name, "mask is empty (no non-zero pixel)"))
        masks[i] = binary_mask(gray)
    if wrong:
        raise ValueError(f"the masks in {roi} do not match the images: {len(wrong)} of "
                         f"{len(items)} wrong: {_examples(wrong)}. A mask is found at "
                         f"{MASK_RULE}; it has the image's size and is bright inside the "
                         "region")
    return masks
