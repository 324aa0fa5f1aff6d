"""Synthetic chest X-rays: reproducible, lesions inside the lungs and visible, files on disk."""
import os

import cv2
import numpy as np
import pytest

from train import phantoms


def test_same_seed_same_phantom():
    a = phantoms.phantom(np.random.default_rng(3), True)
    b = phantoms.phantom(np.random.default_rng(3), True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = phantoms.phantom(np.random.default_rng(4), True)
    assert np.abs(a[0].astype(int) - c[0]).mean() > 1


def test_normal_has_no_lesion_and_opacity_has_one():
    rng = np.random.default_rng(0)
    for _ in range(10):
        image, mask = phantoms.phantom(rng, False)
        assert image.shape == (224, 224) and image.dtype == np.uint8 and not mask.any()
    for _ in range(10):
        image, mask = phantoms.phantom(rng, True)
        share = mask.mean()
        assert 0.002 < share < 0.2, share


def test_lesions_are_brighter_than_the_lung_around_them():
    rng = np.random.default_rng(1)
    for _ in range(10):
        image, mask = phantoms.phantom(rng, True)
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
        assert image[mask].mean() > image[ring].mean() + 5


def test_anatomy_is_where_a_chest_film_has_it():
    image, _ = phantoms.phantom(np.random.default_rng(2), False, size=224)
    lungs = image[60:150, 40:80].mean(), image[60:150, 150:185].mean()
    spine_and_mediastinum = image[40:120, 105:120].mean()
    outside = image[200:, :8].mean()
    assert spine_and_mediastinum > max(lungs) + 15  # lungs are dark, the midline bright
    assert min(lungs) > outside                       # air outside the body is darkest


def test_write_set_is_class_per_folder_with_masks(tmp_path):
    phantoms.write_set(str(tmp_path), n=6, seed=5, size=64, progress=False)
    normal = sorted(os.listdir(tmp_path / "normal"))
    opacity = sorted(os.listdir(tmp_path / "opacity"))
    assert len(normal) == len(opacity) == 3
    assert sorted(os.listdir(tmp_path / "masks" / "opacity")) == opacity
    mask = cv2.imread(str(tmp_path / "masks" / "opacity" / opacity[0]), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255} and mask.max() == 255


def test_cli(tmp_path, capsys):
    assert phantoms.main(["--out", str(tmp_path), "--n", "4", "--seed", "1", "--size", "48"]) == 0
    assert "Wrote 4 phantoms" in capsys.readouterr().out


def test_a_planted_shortcut_marks_one_class_in_one_place(tmp_path):
    import json

    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    phantoms.write_set(str(clean), n=20, seed=3, size=64, progress=False)
    shortcut = phantoms.Shortcut("label", "opacity", 0.5, "bottom-right")
    marked = phantoms.write_set(str(dirty), n=20, seed=3, size=64, progress=False,
                                shortcut=shortcut)
    with open(dirty / "shortcut.json") as f:
        info = json.load(f)
    assert info["marked"] == marked and 0 < len(marked) < 10
    assert all(m.startswith("opacity/") for m in marked)
    x0, y0, x1, y1 = info["zone"]
    assert x0 > 32 and y0 > 32 and x1 <= 64 and y1 <= 64       # bottom-right
    for label in phantoms.CLASSES:
        for name in os.listdir(clean / label):
            a = cv2.imread(str(clean / label / name), cv2.IMREAD_GRAYSCALE).astype(int)
            b = cv2.imread(str(dirty / label / name), cv2.IMREAD_GRAYSCALE).astype(int)
            changed = a != b
            if f"{label}/{name}" in marked:
                assert changed.any() and not changed[:y0].any() and not changed[:, :x0].any()
                assert b[y0:y1, x0:x1].max() >= 220              # a bright burned-in strip
            else:
                assert not changed.any()                         # same base image
            lungs = cv2.imread(str(dirty / "roi" / label / name), cv2.IMREAD_GRAYSCALE)
            assert lungs.shape == (64, 64) and 0.1 < (lungs > 0).mean() < 0.5
            assert not (lungs[y0:y1, x0:x1] > 0).any()           # the marker is off the lungs


def test_markers_of_every_kind_stay_in_their_zone():
    rng = np.random.default_rng(0)
    blank = np.zeros((96, 96), np.uint8)
    for kind in phantoms.MARKERS:
        for place in phantoms.PLACES:
            x0, y0, x1, y1 = phantoms.marker_zone(kind, place, 96)
            for _ in range(5):
                drawn = phantoms.draw_marker(blank, kind, place, rng) > 0
                assert drawn.any() and drawn[y0:y1, x0:x1].sum() == drawn.sum(), (kind, place)
    with pytest.raises(ValueError, match="a shortcut needs"):
        phantoms.Shortcut("sticker")


def test_lung_fields_follow_the_pose_and_hold_the_lesions():
    rng = np.random.default_rng(8)
    for _ in range(5):
        image, mask, lungs = phantoms.phantom_with_lungs(rng, True, 96)
        assert (mask & lungs).sum() >= 0.9 * mask.sum()          # lesions are in the lungs
        assert image[lungs].mean() < image[~lungs].mean()        # lungs are dark
    a = phantoms.phantom(np.random.default_rng(4), True, 64)
    b = phantoms.phantom_with_lungs(np.random.default_rng(4), True, 64)
    np.testing.assert_array_equal(a[0], b[0])


def test_burned_in_text_is_bright_at_the_benchmarks_size():
    rng = np.random.default_rng(1)
    image = phantoms.phantom(rng, False, 64)[0]
    x0, y0, x1, y1 = phantoms.marker_zone("text", "bottom-left", 64)
    drawn = phantoms.draw_marker(image, "text", "bottom-left", rng).astype(int)
    changed = drawn != image
    assert changed[y0:y1, x0:x1].sum() >= 8 and changed.sum() == changed[y0:y1, x0:x1].sum()
    assert drawn[changed].min() >= 200                     # full-strength strokes, not faint
