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
