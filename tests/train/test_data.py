"""The real loading code on small files written here: formats, bad files, the COVID filter."""
import csv

import numpy as np
import pytest
from PIL import Image

from train import data


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
    image = data.load_image(_write(tmp_path / name, array), 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert abs(int(image.mean()) - 200) <= 3


def test_sixteen_bit_png_is_scaled(tmp_path):
    path = tmp_path / "deep.png"
    array = np.full((10, 10), 65535, np.uint16)
    array[:5] = 0
    Image.fromarray(array).save(path)
    image = data.load_image(path, 10)
    assert image[:5].max() == 0 and image[5:].min() == 255


def test_transparent_rgba_composites_on_black(tmp_path):
    array = np.zeros((8, 8, 4), np.uint8)
    array[..., :3] = 255
    image = data.load_image(_write(tmp_path / "clear.png", array), 8)
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


def test_covid_metadata_filter(tmp_path):
    images = tmp_path / "images"
    rows = [("a.png", "COVID-19", "PA"), ("b.png", "COVID-19", "AP"),
            ("c.png", "SARS", "PA"), ("d.jpg", "COVID-19", "PA"), ("gone.png", "COVID-19", "PA"),
            ("e.png", "Pneumonia", "AP Supine")]
    for name, _, _ in rows:
        if name != "gone.png":
            _write(images / name, np.zeros((4, 4), np.uint8))
    csv_path = tmp_path / "metadata.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patientid", "finding", "view", "filename"])
        writer.writerows([(i, finding, view, name) for i, (name, finding, view) in enumerate(rows)])
    with pytest.warns(UserWarning, match="gone.png"):
        copied = data.covid_filter(str(csv_path), str(images), str(tmp_path / "out"))
    assert copied == 2
    assert sorted(p.name for p in (tmp_path / "out" / "covid").iterdir()) == ["a.png", "d.jpg"]


def test_metadata_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "metadata.csv"
    path.write_text("patientid,diagnosis\n1,x\n")
    with pytest.raises(data.DataError, match="lacks the column"):
        data.covid_filter(str(path), str(tmp_path), str(tmp_path / "out"))


def test_split_is_seeded_stratified_and_disjoint():
    labels = np.array([0] * 50 + [1] * 30)
    train, val = data.split(labels, 0.2, seed=1)
    assert not set(train) & set(val) and len(train) + len(val) == 80
    assert (labels[val] == 0).sum() == 10 and (labels[val] == 1).sum() == 6
    again = data.split(labels, 0.2, seed=1)
    np.testing.assert_array_equal(val, again[1])


def test_dataset_pipeline_preprocesses_and_batches():
    images = np.full((5, 4, 4, 3), 255, np.uint8)
    ds = data.dataset(images, np.arange(5), 2, lambda x: x / 255.0, seed=0)
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [2, 2, 1]
    assert float(batches[0][0].numpy().max()) == 1.0


def test_generated_phantoms_match_their_masks():
    images, labels, names, masks = data.generate_phantoms(4, seed=3, size=64)
    assert images.shape == (4, 64, 64, 3) and names == ["normal", "opacity"]
    assert list(labels) == [0, 1, 0, 1]
    assert not masks[labels == 0].any() and all(m.any() for m in masks[labels == 1])
