"""python -m cams.dataset: the store holds what cams.explain gives for the same images, in the
index's order; unreadable files are listed, not fatal; a killed run continues to the same
store; a finished one explains nothing; CSV sources, every class, and pydicom's own files."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import zarr

import cams
from cams.io import modelcard
from cams.dataset import __main__ as cli
from cams.io import images
from cams.io import sources
from cams.dataset.run import explain_dataset
from train.phantoms import write_set

MODEL = "models/xray_phantoms.keras"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    write_set(str(root), 10, seed=77, progress=False)
    (root / "normal" / "broken.png").write_bytes(b"not a png at all")
    (root / "opacity" / "empty.jpg").write_bytes(b"")
    return str(root)


@pytest.fixture(scope="module")
def shipped():
    return modelcard.load(MODEL)


@pytest.fixture(scope="module")
def explained(folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out"))
    counts = explain_dataset(MODEL, folder, out, batch_size=4, progress=False)
    return out, counts


def expected(folder, shipped, names, **kwargs):
    model, card = shipped
    rgb = np.stack([images.read_image(os.path.join(folder, n), 224) for n in names])
    return cams.explain(model, card.preprocess(rgb.astype(np.float32)),
                        layer=card.cam_layer, **kwargs)


def assert_not_degenerate(heatmaps):
    flat = heatmaps.reshape(len(heatmaps), -1).astype(np.float32)
    assert np.allclose(flat.max(axis=1), 1.0, atol=1e-3) and (flat.std(axis=1) > 0.01).all()


def test_the_store_holds_what_explain_gives_in_the_index_order(folder, shipped, explained):
    out, counts = explained
    assert counts == {"ok": 10, "unreadable": 2, "pending": 0, "explained_now": 12}
    index = pd.read_parquet(os.path.join(out, "index.parquet"))
    store = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")
    assert list(index["path"]) == [i.name for i in sources.from_folder(folder)]
    ok = index["status"] == "ok"
    heat = store["heatmaps"][:][ok.to_numpy()]
    assert store["heatmaps"].dtype == np.float16 and heat.shape == (10, 14, 14)
    want = expected(folder, shipped, index["path"][ok])
    assert_not_degenerate(heat)
    np.testing.assert_allclose(heat.astype(np.float32), want.heatmaps, atol=1e-3)
    np.testing.assert_allclose(store["probabilities"][:][ok.to_numpy()], want.probabilities,
                               atol=1e-5)
    names = shipped[1].class_names
    assert list(index["predicted"][ok]) == [names[c] for c in want.class_index]
    assert list(index["label"][ok]) == [p.split("/")[0] for p in index["path"][ok]]
    np.testing.assert_allclose(index["probability_opacity"][ok], want.probabilities[:, 1],
                               atol=1e-6)


def test_unreadable_files_are_listed_with_their_reason(explained):
    out, _ = explained
    index = pd.read_parquet(os.path.join(out, "index.parquet"))
    bad = index[index["status"] == "unreadable"]
    assert sorted(bad["path"]) == ["normal/broken.png", "opacity/empty.jpg"]
    assert all("not an image" in e for e in bad["error"])
    assert (index[index["status"] == "ok"]["error"] == "").all()


def test_a_finished_store_explains_nothing_and_says_so(folder, explained, capsys):
    out, _ = explained
    before = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")["heatmaps"][:]
    assert cli.main(["--model", MODEL, "--data", folder, "--out", out, "--no-progress",
                     "--batch-size", "4"]) == 0
    err = capsys.readouterr().err
    assert "all 12 images already explained (2 unreadable); nothing to do" in err
    after = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")["heatmaps"][:]
    np.testing.assert_array_equal(before, after)


def test_other_settings_on_the_same_store_are_refused(folder, explained, capsys):
    out, _ = explained
    assert cli.main(["--model", MODEL, "--data", folder, "--out", out, "--method",
                     "layercam", "--no-progress"]) == 2
    assert "other settings (method: 'gradcam' then, 'layercam' now)" in capsys.readouterr().err


def test_a_killed_run_continues_to_the_same_store(tmp_path):
    data = str(tmp_path / "data")
    write_set(data, 48, seed=78, progress=False)
    out = str(tmp_path / "killed")
    command = [sys.executable, "-m", "cams.dataset", "--model", MODEL, "--data", data,
               "--out", out, "--batch-size", "2", "--no-progress", "--workers", "1"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = os.path.join(out, "maps.zarr", "status")
    deadline = time.time() + 120
    while time.time() < deadline and run.poll() is None:
        if os.path.isdir(status) and (zarr.open_array(status, mode="r")[:] > 0).sum() >= 4:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    done = int((zarr.open_array(status, mode="r")[:] > 0).sum())
    assert 4 <= done < 48, "the run was to be killed part-way"
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"continuing, {done} of 48 images already done" in again.stderr
    assert f"({48 - done} in this run)" in again.stdout
    whole = str(tmp_path / "whole")
    explain_dataset(MODEL, data, whole, batch_size=2, progress=False)
    whole_store = zarr.open_group(os.path.join(whole, "maps.zarr"), mode="r")
    resumed = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")
    assert_not_degenerate(resumed["heatmaps"][:])
    for key in ("status", "heatmaps", "probabilities", "predicted", "explained"):
        np.testing.assert_allclose(resumed[key][:].astype(np.float32),
                                   whole_store[key][:].astype(np.float32), atol=1e-3,
                                   err_msg=key)
    pd.testing.assert_frame_equal(pd.read_csv(os.path.join(out, "index.csv")),
                                  pd.read_csv(os.path.join(whole, "index.csv")))


def test_a_csv_source_with_labels_explained_for_every_class(folder, shipped, tmp_path):
    rows = ["path,label", "opacity/77_00001.png,opacity", "normal/77_00000.png,normal",
            "normal/missing.png,normal"]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    out = str(tmp_path / "out")
    counts = explain_dataset(MODEL, str(tmp_path / "list.csv"), out, classes="all",
                             csv_root=folder, progress=False, overlays=True)
    assert counts["ok"] == 2 and counts["unreadable"] == 1
    store = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")
    assert store["heatmaps"].shape == (3, 2, 14, 14)
    want = expected(folder, shipped, ["opacity/77_00001.png", "normal/77_00000.png"],
                    class_index="all")
    assert_not_degenerate(store["heatmaps"][:2, 1])
    np.testing.assert_allclose(store["heatmaps"][:2].astype(np.float32), want.heatmaps,
                               atol=1e-3)
    index = pd.read_parquet(os.path.join(out, "index.parquet"))
    assert list(index["label"]) == ["opacity", "normal", "normal"]
    assert list(index["explained"]) == ["all", "all", ""]
    assert index["error"][2] == "no such file"
    assert os.path.isfile(os.path.join(out, "overlays", "opacity", "77_00001_opacity.png"))


def test_labelled_classes_need_known_labels(tmp_path, folder):
    (tmp_path / "list.csv").write_text("path,label\nnormal/77_00000.png,pneumonia\n")
    with pytest.raises(ValueError, match="among the model's classes .* found pneumonia"):
        explain_dataset(MODEL, str(tmp_path / "list.csv"), str(tmp_path / "o"),
                        classes="labelled", csv_root=folder, progress=False)


def test_pydicom_example_files_never_leak_an_identifier(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_files

    files = get_testdata_files("*.dcm")
    assert len(files) > 20
    data = tmp_path / "dicoms"
    data.mkdir()
    said = set()
    for f in files:
        (data / os.path.basename(f)).write_bytes(open(f, "rb").read())
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
        except Exception:
            continue
        for key in ("PatientName", "PatientID", "InstitutionName", "ReferringPhysicianName"):
            value = str(ds.get(key, "") or "").strip()
            if len(value) > 3:
                said.add(value)
    assert said, "pydicom's files carry names to look for"
    out = str(tmp_path / "out")
    run = subprocess.run([sys.executable, "-m", "cams.dataset", "--model", MODEL, "--data",
                          str(data), "--out", out, "--no-progress"], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    index = pd.read_parquet(os.path.join(out, "index.parquet"))
    assert len(index) == len(files) and (index["status"] == "ok").sum() >= 10
    assert (index["status"] == "unreadable").sum() >= 5
    text = open(os.path.join(out, "index.csv")).read() + run.stdout + run.stderr + str(
        dict(zarr.open_group(os.path.join(out, "maps.zarr"), mode="r").attrs))
    leaked = [s for s in said if s in text]
    assert not leaked


def test_a_model_without_a_card_says_so_and_a_new_card_is_not_mixed_in(folder, tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(h))
    path = str(tmp_path / "mine.keras")
    keras.Model(inputs, outputs).save(path)
    said = []
    explain_dataset(path, folder, str(tmp_path / "out"), progress=False, log=said.append)
    assert any("note: preprocessing unknown: pixels 0..255 are passed as they are" in line
               and "mine.json" in line for line in said)
    modelcard.write(path, modelcard.ModelCard(("normal", "opacity"), (32, 32, 3), "unit"))
    with pytest.raises(ValueError, match="other settings .*preprocessing: 'none' then, 'unit'"):
        explain_dataset(path, folder, str(tmp_path / "out"), progress=False, log=said.append)


def test_each_row_is_explained_for_its_own_files_label(folder, shipped, tmp_path):
    """--classes labelled on a CSV whose labels alternate, so that each row's neighbour has the
    other label: every stored map is its own file's labelled class's, and the index names that
    class beside the file (a reader pairing an image with another row's label fails here)."""
    names = sorted(os.path.relpath(os.path.join(d, f), folder)
                   for d, _, files in os.walk(folder) for f in files if f.endswith(".png"))
    by_class = {c: [n for n in names if n.startswith(c + "/")] for c in ("normal", "opacity")}
    rows = [n for pair in zip(by_class["normal"], by_class["opacity"]) for n in pair][:8]
    labels = [n.split("/")[0] for n in rows]
    assert labels[:4] == ["normal", "opacity", "normal", "opacity"]
    (tmp_path / "list.csv").write_text(
        "path,label\n" + "".join(f"{n},{c}\n" for n, c in zip(rows, labels)))
    out = str(tmp_path / "out")
    counts = explain_dataset(MODEL, str(tmp_path / "list.csv"), out, classes="labelled",
                             csv_root=folder, batch_size=3, progress=False)
    assert counts["ok"] == 8
    index = pd.read_csv(os.path.join(out, "index.csv"))
    assert list(index["path"]) == rows and list(index["label"]) == labels
    assert list(index["explained"]) == labels
    class_names = list(shipped[1].class_names)
    want = expected(folder, shipped, rows, class_index=[class_names.index(c) for c in labels])
    store = zarr.open_group(os.path.join(out, "maps.zarr"), mode="r")
    np.testing.assert_array_equal(store["explained"][:, 0],
                                  [class_names.index(c) for c in labels])
    assert_not_degenerate(store["heatmaps"][:])
    np.testing.assert_allclose(store["heatmaps"][:].astype(np.float32), want.heatmaps,
                               atol=1e-3)
