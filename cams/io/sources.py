"""Where a dataset's images are: a class-per-folder set, a plain folder, or a CSV of paths.

Every source becomes a list of `Item`s in a fixed order (the order of the store's rows);
`cams.io.images.read_image(path, size)` turns one file into what a model's preprocessing takes.
"""
import csv
import os
from dataclasses import dataclass

from cams.io import images

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".dcm")
ACCEPTED = ("a folder of class folders (DIR/<class>/<image>), a folder of images, or a CSV with "
            "a 'path' column (and optionally 'label'); images: " + ", ".join(IMAGE_TYPES))


@dataclass(frozen=True)
class Item:
    """One image of a dataset: `path` to open, `name` as the index shows it (relative to the
    dataset's folder), `label` the class name it is filed under, or None when unknown."""
    path: str
    name: str
    label: str | None = None


def is_image_name(name):
    """True for a file name cams reads as an image (IMAGE_TYPES, any case, not hidden)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_TYPES)


def from_folder(root):
    """Items of `root`: DIR/<class>/<image> (label = the class folder's name; the lesion-mask
    folder is not a class) and images directly in DIR (no label), sorted by name.
    ValueError when there is no such folder or no image in it."""
    if not os.path.isdir(root):
        raise ValueError(f"no folder at {root}; accepted: {ACCEPTED}")
    found = [Item(os.path.join(root, f), f) for f in sorted(os.listdir(root))
             if is_image_name(f) and os.path.isfile(os.path.join(root, f))]
    for label in images.class_folders(root):
        folder = os.path.join(root, label)
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if is_image_name(f):
                    path = os.path.join(dirpath, f)
                    found.append(Item(path, os.path.relpath(path, root), label))
    if not found:
        raise ValueError(f"no image under {root}; accepted: {ACCEPTED}")
    return found


def from_csv(csv_path, root=None):
    """Items of a CSV file with a `path` column (relative to `root`, default the CSV's folder)
    and an optional `label` column (a class name; empty for unknown), in the file's order."""
    root = os.path.dirname(os.path.abspath(csv_path)) if root is None else root
    try:  # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames or [], list(reader)
    except UnicodeDecodeError as err:
        raise ValueError(f"{csv_path} is not UTF-8 text (byte {err.object[err.start]:#04x} "
                         f"at offset {err.start}); save it as UTF-8 (\"CSV UTF-8\")") from None
    if "path" not in columns:
        raise ValueError(f"{csv_path} needs a 'path' column (and optionally 'label'), "
                         f"comma-separated; found columns: {', '.join(columns) or 'none'}")
    if not rows:
        raise ValueError(f"{csv_path} has a header and no row: it lists no image")
    return [Item(os.path.join(root, row["path"]), row["path"], (row.get("label") or None))
            for row in rows]


def items_of(data, root=None):
    """Items of `data`: a folder (see from_folder) or a .csv file (see from_csv)."""
    if os.path.isfile(data) and data.lower().endswith(".csv"):
        return from_csv(data, root)
    return from_folder(data)
