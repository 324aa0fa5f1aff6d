"""Images stay paired with their labels and masks, from the data set to what the model trains on.

Every image here says by its pixels which one it is, so a pair that comes apart is seen: through
train.data.dataset's shuffling, batching and augmentation (a mask must follow its image through
every rotation, flip and zoom), and through the trainer's runs, its cached-features path
included. A mask file that is all black marks no lesion, wherever masks are read.
"""
import json

import keras
import numpy as np
import pytest
from PIL import Image

from train import __main__ as trainer
from train import data
from train import model as models

SIDE = 32


def _numbered(n):
    """n images whose every pixel is their number + 1, and masks that differ one from another."""
    images = np.repeat(np.arange(1, n + 1, dtype=np.uint8), SIDE * SIDE * 3).reshape(
        n, SIDE, SIDE, 3)
    masks = np.zeros((n, SIDE, SIDE), bool)
    for i in range(n):
        masks[i, i % 8:i % 8 + 4 + i // 8, 2 * (i % 5):2 * (i % 5) + 6] = True
    return images, masks


def _flat(batch):
    """A batch as numpy (images, masks or None, labels)."""
    x, y = batch
    x, m = x if isinstance(x, tuple) else (x, None)
    return np.asarray(x), None if m is None else np.asarray(m), np.asarray(y)


def _epochs(ds, count=2):
    return [[_flat(batch) for batch in ds] for _ in range(count)]


@pytest.mark.parametrize("with_masks", [False, True])
def test_shuffled_batches_keep_each_image_with_its_label_and_mask(with_masks):
    n = 40
    images, masks = _numbered(n)
    labels = (np.arange(n) * 7 + 3) % 11  # a label no batch position or order can guess
    ds = data.dataset(images, labels, 6, lambda x: x / 255.0, seed=1,
                      masks=masks if with_masks else None)
    orders = []
    for epoch in _epochs(ds):
        assert [len(b[2]) for b in epoch] == [6] * 6 + [4]
        seen = []
        for x, m, y in epoch:
            index = np.rint(x[:, 0, 0, 0] * 255).astype(int) - 1
            np.testing.assert_allclose(x * 255, images[index], atol=1e-3)  # whole, unmixed
            np.testing.assert_array_equal(y, labels[index])
            if with_masks:
                np.testing.assert_array_equal(m, masks[index])
            seen.extend(index)
        assert sorted(seen) == list(range(n)), "an epoch must show every image once"
        orders.append(seen)
    assert orders[0] != list(range(n)) and orders[0] != orders[1], "not shuffled each epoch"


def _coded(n):
    """n images, each a square off the centre, placed by its number, whose three channels are
    each on (250) or off (0) by the number's bits (1..7); masks are the squares."""
    images = np.zeros((n, SIDE, SIDE, 3), np.uint8)
    masks = np.zeros((n, SIDE, SIDE), bool)
    for i in range(n):
        top, left = 3 + 2 * (i % 4), 2 + 3 * (i % 5)
        masks[i, top:top + 11, left:left + 11] = True
        code = i % 7 + 1
        images[i][masks[i]] = [250 * (code >> c & 1) for c in range(3)]
    return images, masks


def _decode(image, mask):
    """The code (1..7) an augmented coded image shows inside `mask`."""
    inside = np.median(image[mask], axis=0)
    return int(sum(1 << c for c in range(3) if inside[c] > 125))


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_augmented_masks_move_with_their_images():
    n = 14
    images, masks = _coded(n)
    labels = np.arange(n) % 7  # the code - 1
    augment = trainer.augmenter(seed=3, flip="horizontal_and_vertical")
    ds = data.dataset(images, labels, 4, lambda x: x, seed=2, augment=augment, masks=masks)
    moved = 0
    for epoch in _epochs(ds, 3):
        for x, m, y in epoch:
            assert set(np.unique(m)) <= {0.0, 1.0}
            for image, mask, label in zip(x, m.astype(bool), y):
                bright = image.max(axis=-1) > 125
                assert _iou(mask, bright) > 0.85, "a mask came off its image"
                assert _decode(image, mask) == label + 1, "an image came off its label"
                moved += min(_iou(mask, original) for original in masks) < 0.85
    assert moved > 20, "the augmentation moved (almost) nothing: the checks above prove little"


def _recording_fit(monkeypatch):
    """Patch keras.Model.fit to record every model's training and validation pairs (as numpy
    (inputs, labels) lists) before fitting as usual."""
    seen = []
    fit = keras.Model.fit

    def recording(self, x=None, *args, validation_data=None, **kwargs):
        seen.append({"model": self, "train": [_flat(b) for b in x],
                     "val": [_flat(b) for b in validation_data]})
        return fit(self, x, *args, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording)
    return seen


TINY = ["--phantoms", "20", "--size", "48", "--backbone", "mobilenetv2", "--alpha", "0.35",
        "--weights", "none", "--batch-size", "4", "--seed", "5", "--verbose", "0",
        "--epochs", "1", "--no-augment"]
FIXED_LAYER = ["--cam-layer", "out_relu"]  # no layer selection: these tests are about fit


def _nearest(rows, table):
    """For each row, the index of the nearest row of `table`, and the largest relative gap."""
    rows, table = rows.reshape(len(rows), -1), table.reshape(len(table), -1)
    gaps = ((rows[:, None] - table[None]) ** 2).sum(axis=-1)
    index = gaps.argmin(axis=1)
    scale = (table ** 2).sum(axis=-1).mean()
    return index, float(np.sqrt(gaps[np.arange(len(rows)), index].max() / scale))


def test_cached_features_are_trained_with_their_own_images_labels(tmp_path, monkeypatch):
    bases, head_model = [], models.head_model

    def recording_head_model(base, head):  # the frozen base the features come from
        bases.append(base)
        return head_model(base, head)

    monkeypatch.setattr(models, "head_model", recording_head_model)
    seen = _recording_fit(monkeypatch)
    argv = TINY + FIXED_LAYER + ["--freeze-base", "--out", str(tmp_path / "m.keras")]
    assert trainer.main(argv) == 0
    assert json.loads((tmp_path / "m.json").read_text())["training_path"].startswith("cached")
    images, labels, _, _ = data.generate_phantoms(20, 5, 48)
    x = keras.applications.mobilenet_v2.preprocess_input(images.astype(np.float32))
    features = np.asarray(bases[0](x, training=False))
    (run,) = seen
    for part, count in (("train", 16), ("val", 4)):
        f = np.concatenate([b[0] for b in run[part]])
        y = np.concatenate([b[2] for b in run[part]])
        index, gap = _nearest(f, features)
        assert gap < 1e-3, f"{part}: features that are no image's"
        assert len(set(index)) == len(index) == count
        np.testing.assert_array_equal(y, labels[index], err_msg=f"{part}: labels came apart")


def test_mask_guided_training_sees_each_image_with_its_mask_and_label(tmp_path, monkeypatch):
    seen = _recording_fit(monkeypatch)
    argv = TINY + FIXED_LAYER + ["--freeze-base", "--mask-guidance", "1",
                                 "--out", str(tmp_path / "m.keras")]
    assert trainer.main(argv) == 0
    images, labels, _, masks = data.generate_phantoms(20, 5, 48)
    x = keras.applications.mobilenet_v2.preprocess_input(images.astype(np.float32))
    (run,) = seen
    for part, count in (("train", 16), ("val", 4)):
        got = np.concatenate([b[0] for b in run[part]])
        m = np.concatenate([b[1] for b in run[part]])
        y = np.concatenate([b[2] for b in run[part]])
        index, gap = _nearest(got, x)
        assert gap < 1e-5 and len(set(index)) == len(index) == count
        np.testing.assert_array_equal(y, labels[index], err_msg=f"{part}: labels came apart")
        np.testing.assert_array_equal(m, masks[index], err_msg=f"{part}: masks came apart")


def _folder_with_masks(root, n, size, blank):
    """n phantoms written as a class-per-folder set, file names their index; each opacity image
    has a mask file, all black for the indices in `blank`. Returns (images, labels, masks)."""
    images, labels, names, masks = data.generate_phantoms(n, 2, size)
    for i in range(n):
        folder = root / names[labels[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i:03d}.png")
        if labels[i] == 1:
            (root / "masks" / names[1]).mkdir(parents=True, exist_ok=True)
            mask = np.zeros_like(masks[i]) if i in blank else masks[i]
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / names[1]
                                                              / f"{i:03d}.png")
    return images, labels, masks


def test_an_all_black_mask_file_marks_no_lesion(tmp_path):
    phantoms, _, masks = _folder_with_masks(tmp_path, 8, 32, blank={3, 5})
    images, labels, _, got, has_mask = data.evaluation_set(str(tmp_path), size=32)
    order = [0, 2, 4, 6, 1, 3, 5, 7]  # by class folder, then file name
    np.testing.assert_array_equal(images, phantoms[order])
    assert list(labels) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert list(has_mask) == [False] * 4 + [True, False, False, True]
    assert masks[1].any() and masks[7].any()
    np.testing.assert_array_equal(got[has_mask], masks[[1, 7]])
    assert not got[~has_mask].any()


def test_training_with_no_lesion_in_validation_keeps_the_default_cam_layer(tmp_path):
    """Only all-black mask files among the validation images: no lesion to choose a layer by,
    so the model card records the backbone's default layer and no (NaN) selection table."""
    root = tmp_path / "set"
    # The trainer splits the set in file order: 10 normal images, then opacity 001, 003, ...
    _, val = data.split(np.repeat([0, 1], 10), 0.2, 5)
    _folder_with_masks(root, 20, 48, blank={2 * (j - 10) + 1 for j in val if j >= 10})
    argv = ["--data", str(root)] + TINY[2:] + ["--freeze-base", "--out", str(tmp_path / "m.keras")]
    assert trainer.main(argv) == 0

    def no_nan(name):
        raise AssertionError(f"the model card holds {name}")

    card = json.loads((tmp_path / "m.json").read_text(), parse_constant=no_nan)
    _, base, _ = models.build("mobilenetv2", 2, 48, None, alpha=0.35)
    assert card["cam_layer_selection"] is None
    assert card["cam_layer"] == models.default_cam_layer("mobilenetv2", base)
