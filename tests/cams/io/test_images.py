"""Reading images as models see them, on small files written here: formats, bad files, folders
with masks."""
import numpy as np
import pytest
from PIL import Image

from cams.io import images as data


def _write(path, array, mode=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **kwargs) if mode else Image.fromarray(array).save(
        path, **kwargs)
    return path


@pytest.mark.parametrize("name, array", [
    ("rgb.png", np.full((20, 30, 3), 200, np.uint8)),
    ("gray.png", np.full((20, 30), 200, np.uint8)),
    ("photo.jpg", np.full((20, 30, 3), 200, np.uint8)),
    ("rgba.png", np.dstack([np.full((20, 30, 3), 200, np.uint8), np.full((20, 30), 255, np.uint8)])),
])
def test_formats_load_as_rgb(tmp_path, name, array):
    image = data.read_image(_write(tmp_path / name, array), 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert abs(int(image.mean()) - 200) <= 3


def test_sixteen_bit_png_is_scaled(tmp_path):
    path = tmp_path / "deep.png"
    array = np.full((10, 10), 65535, np.uint16)
    array[:5] = 0
    Image.fromarray(array).save(path)
    image = data.read_image(path, 10)
    assert image[:5].max() == 0 and image[5:].min() == 255


def test_transparent_rgba_composites_on_black(tmp_path):
    array = np.zeros((8, 8, 4), np.uint8)
    array[..., :3] = 255
    image = data.read_image(_write(tmp_path / "clear.png", array), 8)
    assert image.max() == 0


def _set(root):
    for i in range(3):
        _write(root / "normal" / f"n{i}.png", np.full((12, 12), 10 * i, np.uint8))
        _write(root / "covid" / f"c{i}.jpg", np.full((12, 12, 3), 100, np.uint8))
    return root


def test_folder_with_a_corrupt_file_warns_and_skips_it(tmp_path):
    root = _set(tmp_path / "set")
    (root / "covid" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "normal" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning) as caught:
        images, labels, names, paths = data.load_folder(str(root), 8)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.png" in messages and "notes.txt" in messages
    assert names == ["covid", "normal"] and images.shape == (6, 8, 8, 3)
    assert list(labels) == [0, 0, 0, 1, 1, 1] and len(paths) == 6


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="needs at least two class folders"):
        data.load_folder(str(tmp_path / "empty"), 8)
    with pytest.raises(data.DataError, match="no folder at"):
        data.load_folder(str(tmp_path / "missing"), 8)


def test_masks_folder_is_not_a_class(tmp_path):
    root = _set(tmp_path / "set")
    _write(root / "masks" / "covid" / "c1.jpg", np.full((12, 12), 255, np.uint8))
    _, _, names, paths = data.load_folder(str(root), 8)
    assert names == ["covid", "normal"]
    masks, has = data.load_masks(str(root), paths, 8)
    assert list(has) == [False, True, False, False, False, False] and masks[1].all()


@pytest.mark.parametrize("inside", [1, 255])
def test_every_tool_reads_a_0_1_and_a_0_255_mask_the_same(tmp_path, inside):
    """One mask rule for the report and train (images.load_masks), the audit's regions of
    interest and the demo's outlines: a 0/1 mask was dropped by the first two (> 127)."""
    from cams.app.handlers import examples_in
    from cams.audit import data as audit_data

    want = np.zeros((16, 16), bool)
    want[4:10, 3:12] = True
    for folder in ("opacity", "masks/opacity", "roi/opacity"):
        (tmp_path / folder).mkdir(parents=True)
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "opacity" / "a.png")
    for folder in ("masks", "roi"):
        Image.fromarray((want * inside).astype(np.uint8)).save(tmp_path / folder / "opacity" /
                                                              "a.png")
    image = str(tmp_path / "opacity" / "a.png")
    masks, has = data.load_masks(str(tmp_path), [image], 16)
    assert has[0] and (masks[0] == want).all()
    _, shown = examples_in(str(tmp_path))
    assert len(shown) == 1 and (next(iter(shown.values())) == want).all()
    roi = audit_data.load(str(tmp_path), 16, str(tmp_path / "roi")).roi
    assert (roi[0] == want).all()
    # a JPEG's ringing near 0 stays outside; an all-zero mask stays empty
    ringing = want * inside + (np.arange(256).reshape(16, 16) % 7) * (inside == 255)
    assert (data.binary_mask(ringing) == want).all()
    assert not data.binary_mask(np.zeros((3, 3), np.uint8)).any()


def test_a_folder_of_dicom_files_reads_as_the_dataset_command_reads_it(tmp_path):
    """One reader: the report's and the trainer's folder loader takes a DICOM as the dataset
    command and the audit do (it skipped it as unreadable before), and its warning for a bad
    one names the file and nothing inside it."""
    from tests import dicom_files

    root = _set(tmp_path / "set")
    image = dicom_files.phantom_image(seed=3, size=32)
    dicom_files.save(dicom_files.identified(dicom_files.dataset(image)),
                     root / "covid" / "scan.dcm")
    images, labels, names, paths = data.load_folder(str(root), 8)
    assert images.shape == (7, 8, 8, 3) and any(p.endswith("scan.dcm") for p in paths)
    read = images[[p.endswith("scan.dcm") for p in paths].index(True)]
    np.testing.assert_array_equal(read, data.read_image(str(root / "covid" / "scan.dcm"), 8))
    assert read.std() > 0
    (root / "normal" / "cut.dcm").write_bytes((root / "covid" / "scan.dcm").read_bytes()[:200])
    with pytest.warns(UserWarning, match="cut.dcm") as caught:
        data.load_folder(str(root), 8)
    said = " ".join(str(w.message) for w in caught)
    assert not any(v in said for v in dicom_files.IDENTIFIERS.values())
