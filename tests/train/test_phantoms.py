"""Synthetic chest X-rays: reproducible, lesions inside the lungs and visible, files on disk."""
import hashlib
import json
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


NEW_KINDS = ("hyperintensity", "obstruction", "ruler")
# sha256 of the old kinds at the corners, recorded from the code before the new kinds came:
# the same seed must draw the same pixels (the recorded benchmarks depend on it).
OLD_KINDS_SHA256 = "92b0b6bf413e4864c31946df8ef4a82de9fb0bb0c0c82945b2311ae07d0954d7"


def test_old_markers_draw_the_same_pixels_as_before():
    h = hashlib.sha256()
    for size in (48, 64, 224):
        base = np.random.default_rng(size).integers(0, 256, (size, size), dtype=np.uint8)
        rng = np.random.default_rng([size, 7])
        for kind in ("glyph", "label", "border", "text"):
            for place in ("top-left", "top-right", "bottom-left", "bottom-right"):
                for _ in range(3):
                    h.update(phantoms.draw_marker(base, kind, place, rng).tobytes())
                h.update(str(phantoms.marker_zone(kind, place, size)).encode())
        h.update(str(rng.integers(1 << 30)).encode())  # the markers drew as many numbers
    assert h.hexdigest() == OLD_KINDS_SHA256


@pytest.mark.parametrize("size", [32, 64, 224])
def test_every_marker_at_every_place_changes_only_its_zone_and_says_which_pixels(size):
    for kind in phantoms.MARKERS:
        for place in phantoms.PLACES:
            rng = np.random.default_rng([size, len(kind), len(place)])
            x0, y0, x1, y1 = phantoms.marker_zone(kind, place, size)
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
            for _ in range(4):
                image = rng.integers(40, 200, (size, size), dtype=np.uint8)
                state = rng.bit_generator.state
                drawn, mask = phantoms.draw_marker(image, kind, place, rng, return_mask=True)
                after = rng.bit_generator.state
                rng.bit_generator.state = state                  # the same draws either way
                np.testing.assert_array_equal(phantoms.draw_marker(image, kind, place, rng), drawn)
                assert rng.bit_generator.state == after
                assert mask.dtype == bool and mask.shape == (size, size)
                np.testing.assert_array_equal(mask, drawn != image)
                assert mask.any() and mask[y0:y1, x0:x1].sum() == mask.sum(), (kind, place)


def test_body_places_are_on_the_body_and_corners_off_it():
    rng = np.random.default_rng(9)
    for _ in range(6):
        image, _, lungs = phantoms.phantom_with_lungs(rng, False, 64)
        for kind in NEW_KINDS:
            for place, share in (("left-lung", 0.7), ("right-lung", 0.7), ("top-left", 0),
                                 ("bottom-right", 0)):
                _, mask = phantoms.draw_marker(image, kind, place, rng, return_mask=True)
                inside = (mask & lungs).sum() / mask.sum()
                assert inside >= share if share else inside == 0, (kind, place, inside)


def test_obstruction_hides_and_darkens_hyperintensity_brightens():
    rng = np.random.default_rng(4)
    for place in phantoms.BODY:
        a, b = (phantoms.phantom(rng, True, 96)[0] for _ in range(2))
        seed = rng.integers(1 << 30)
        hidden_a, mask = phantoms.draw_marker(a, "obstruction", place, np.random.default_rng(seed),
                                              return_mask=True)
        hidden_b = phantoms.draw_marker(b, "obstruction", place, np.random.default_rng(seed))
        assert hidden_a[mask].mean() < a[mask].mean() - 40 and (hidden_a <= 60)[mask].mean() > 0.5
        core = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        assert core.sum() >= 20                              # what is under the core is gone:
        np.testing.assert_array_equal(hidden_a[core], hidden_b[core])   # same on any film
        bright, mask = phantoms.draw_marker(a, "hyperintensity", place, rng, return_mask=True)
        assert (bright[mask] > a[mask]).all()                # (the heart's film is near white)
        assert bright[mask].mean() > min(a[mask].mean() + 40, 240)
        assert mask.sum() >= 0.5 * np.pi * (0.045 * 96) ** 2  # a disc about 9% of the width


def test_a_ruler_is_a_thin_strip_with_regular_ticks():
    image = np.full((224, 224), 60, np.uint8)
    for place in ("top-left", "bottom-right", "left-lung"):
        drawn, mask = phantoms.draw_marker(image, "ruler", place, np.random.default_rng(0), True)
        ys, xs = np.nonzero(mask)
        assert np.ptp(xs) > 5 * np.ptp(ys)                      # a strip along the edge
        ticks = np.nonzero((drawn == 245).any(axis=0))[0]
        assert len(ticks) >= 10 and len(set(np.diff(ticks))) == 1   # evenly spaced
        tall = np.nonzero((drawn == 245).sum(axis=0) == np.ptp(ys) + 1)[0]
        assert len(tall) >= 2 and set(np.diff(tall)) == {5 * np.diff(ticks)[0]}


def test_new_kinds_and_places_are_accepted_unknown_ones_refused(tmp_path):
    for kind in NEW_KINDS:
        for place in phantoms.PLACES:
            phantoms.Shortcut(kind, "opacity", 0.5, place)
    phantoms.Shortcut("glyph", place="heart")
    for bad in ({"kind": "sticker"}, {"place": "left-lng"}, {"place": "center"},
                {"kind": "hyperintensity", "place": "Left-Lung"}):
        with pytest.raises(ValueError, match="a shortcut needs"):
            phantoms.Shortcut(**bad)
    with pytest.raises(SystemExit):
        phantoms.main(["--out", str(tmp_path), "--marker", "ruler", "--marker-place", "middle"])
    with pytest.raises(SystemExit):
        phantoms.main(["--out", str(tmp_path), "--marker", "blob"])


def test_a_body_place_shortcut_on_disk_records_its_zone_and_pixel_masks(tmp_path):
    clean, dirty, marks = tmp_path / "clean", tmp_path / "dirty", tmp_path / "marks"
    phantoms.write_set(str(clean), n=12, seed=2, size=64, progress=False)
    assert phantoms.main(["--out", str(dirty), "--n", "12", "--seed", "2", "--size", "64",
                          "--marker", "obstruction", "--marker-place", "right-lung",
                          "--marker-share", "0.7", "--marker-masks", str(marks)]) == 0
    with open(dirty / "shortcut.json") as f:
        info = json.load(f)
    assert info["kind"] == "obstruction" and info["place"] == "right-lung"
    assert info["zone"] == phantoms.marker_zone("obstruction", "right-lung", 64)
    x0, y0, x1, y1 = info["zone"]
    assert 32 < (x0 + x1) / 2 < 54 and 16 < (y0 + y1) / 2 < 40   # the image's right lung
    assert 0 < len(info["marked"]) and sorted(os.listdir(marks / "opacity")) == sorted(
        m.split("/")[1] for m in info["marked"]) and not (marks / "normal").exists()
    for rel in info["marked"]:
        a = cv2.imread(str(clean / rel), cv2.IMREAD_GRAYSCALE)
        b = cv2.imread(str(dirty / rel), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(marks / rel), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(mask > 0, a != b)
