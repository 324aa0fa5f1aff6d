"""Synthetic chest X-rays: reproducible, lesions inside the lungs and visible, files on disk."""
import os

import cv2
import numpy as np

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
