"""Image sets for training: the COVID-19 metadata.csv filter, phantoms, a seeded split and a
tf.data pipeline. Folders of images are read by cams.io.images (uint8 RGB, what a model's
preprocessing takes).
"""
import csv
import os
import shutil
import warnings

import numpy as np

from cams.io.images import DataError, load_folder, load_masks
from train import phantoms


def covid_filter(metadata_csv, images_dir, out_dir, finding="COVID-19", view="PA"):
    """Copy the images of metadata.csv rows with that finding and view into out_dir/covid/.

    The filter of the COVID-19 chest X-ray set's seed notebook; returns how many were copied.
    """
    target = os.path.join(out_dir, "covid")
    os.makedirs(target, exist_ok=True)
    copied = 0
    with open(metadata_csv, newline="") as f:
        rows = csv.DictReader(f)
        missing = {"finding", "view", "filename"} - set(rows.fieldnames or ())
        if missing:
            raise DataError(f"{metadata_csv} lacks the column(s) {', '.join(sorted(missing))}; "
                            "expected the COVID-19 image data collection's metadata.csv")
        for row in rows:
            if row["finding"].strip() != finding or row["view"].strip() != view:
                continue
            source = os.path.join(images_dir, row["filename"])
            if not os.path.isfile(source):
                warnings.warn(f"skipping {row['filename']}: not in {images_dir}", stacklevel=2)
                continue
            shutil.copy2(source, os.path.join(target, os.path.basename(row["filename"])))
            copied += 1
    return copied


def generate_phantoms(n, seed, size=224):
    """n phantoms in memory: (RGB uint8 (n, size, size, 3), labels, class names, masks)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    labels = np.arange(n, dtype=np.int32) % 2
    for i in range(n):
        gray, masks[i] = phantoms.phantom(rng, labels[i] == 1, size)
        images[i] = gray[..., None]
    return images, labels, list(phantoms.CLASSES), masks


def evaluation_set(data_dir=None, n_phantoms=None, seed=12345, size=224):
    """(images, labels, class names, masks, has_mask) from a folder (masks where a masks folder
    has them) or from n fresh phantoms."""
    if n_phantoms:
        images, labels, names, masks = generate_phantoms(n_phantoms, seed, size)
        return images, labels, names, masks, masks.any(axis=(1, 2))
    images, labels, names, paths = load_folder(data_dir, size)
    masks, has_mask = load_masks(data_dir, paths, size)
    return images, labels, names, masks, has_mask


def split(labels, val_fraction, seed):
    """(train indices, validation indices): a seeded split stratified by class."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * val_fraction))
        val.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(np.asarray(train, int)), np.sort(np.asarray(val, int))


def dataset(images, labels, batch_size, preprocess, seed, shuffle=True, augment=None,
            masks=None):
    """A tf.data pipeline: cached uint8 tensors, seeded shuffle, augmentation, prefetch.

    Batches are (images, labels), or ((images, masks), labels) when `masks` (N, H, W) are
    given: each mask then goes through the same random rotation, flip and zoom as its image.
    """
    import tensorflow as tf

    inputs = images if masks is None else (images, masks.astype(np.uint8))
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels)).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)

    def prepare(x, y):
        if masks is None:
            x = tf.cast(x, tf.float32)
            x = x if augment is None else augment(x, training=True)
            return preprocess(x), y
        x, m = tf.cast(x[0], tf.float32), tf.cast(x[1], tf.float32)
        if augment is not None:
            x, m = augment_with_mask(augment, x, m)
        return (preprocess(x), m), y

    ds = ds.batch(batch_size).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def augment_with_mask(augment, images, masks):
    """Augment images (N, H, W, 3) in [0, 255] and their 0/1 masks (N, H, W) together.

    The mask rides as a fourth channel at 255, so rotation, flip and zoom move it with its
    image; contrast, which rescales about a channel's mean, cannot push a 255 below half or
    a 0 above it, so thresholding at half gives back a 0/1 mask."""
    import tensorflow as tf

    both = augment(tf.concat([images, 255.0 * masks[..., None]], axis=-1), training=True)
    return both[..., :3], tf.cast(both[..., 3] > 127.5, tf.float32)
