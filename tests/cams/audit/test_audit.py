"""The whole audit on tiny seeded models trained here: a planted shortcut is flagged, a clean
model is not; and the data errors it must refuse before writing anything."""
import json
import os

import numpy as np
import pytest

import cams
from cams.io import modelcard
from cams.audit import verdict
from cams.audit.__main__ import main
from train import audit_benchmark as bench, audit_models, audit_summary, phantoms

SIZE = 48
SHORTCUT = phantoms.Shortcut("label", "opacity", 1.0, "top-left")


def save(model, path):
    """The model at path with a card (class names, no preprocessing, layer conv3)."""
    model.save(path)
    modelcard.write(path, modelcard.ModelCard(("normal", "opacity"), (SIZE, SIZE, 3), "none",
                                              "conv3"))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{"clean": path, "shortcut": path} of two models trained on the same 240 phantoms, and
    the audit sets they are audited on (60 phantoms each, with lung masks)."""
    root = tmp_path_factory.mktemp("audit")
    x, y = bench.Films("phantoms").base(240, 5, SIZE)
    out = {}
    for name, shortcut in (("clean", None), ("shortcut", SHORTCUT)):
        model = audit_models.train("cnn4", bench.marked(x, y, shortcut, 5), y, 0, epochs=8)
        out[name] = save(model, str(root / f"{name}.keras"))
        phantoms.write_set(str(root / f"{name}-set"), 60, 6, SIZE, progress=False,
                           shortcut=shortcut)
        out[name + "-set"] = str(root / f"{name}-set")
    return out


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    return save(audit_models.tiny_cnn(SIZE, 0), str(tmp_path_factory.mktemp("m") / "m.keras"))


def test_a_planted_shortcut_is_flagged_where_it_was_planted(trained, tmp_path, capsys):
    data = trained["shortcut-set"]
    code = main(["--model", trained["shortcut"], "--data", data, "--roi",
                 os.path.join(data, "roi"), "--out", str(tmp_path), "--fail-on-shortcut"])
    assert code == 1
    assert capsys.readouterr().out.startswith("shortcut suspected")
    with open(tmp_path / "audit.json") as f:
        result = json.load(f)
    assert result["verdict"] == "shortcut suspected" and result["score"] >= 0.5
    finding = result["findings"][0]
    assert set(finding) >= {"class", "region", "images", "share_outside_roi",
                            "flip_rate_removed", "flip_rate_transplanted"}
    assert finding["class"] == "opacity"
    zone = phantoms.marker_zone("label", "top-left", SIZE)
    assert audit_summary.iou(finding["region"], zone) > 0.1
    assert set(result["per_class"]) == {"normal", "opacity"}
    html = (tmp_path / "report.html").read_text()
    assert "shortcut suspected" in html and html.count("data:image/png;base64,") >= 4
    # without masks the content of the region tells the marker from a lesion
    found = cams.audit(trained["shortcut"], data)
    assert found.result["verdict"] == "shortcut suspected", found.result["candidates"]
    assert found.result["findings"][0]["stereotypy"] >= verdict.ARTIFACT


def test_a_clean_model_is_not_flagged(trained, tmp_path):
    data = trained["clean-set"]
    for roi in (os.path.join(data, "roi"), None):
        found = cams.audit(trained["clean"], data, str(tmp_path), roi)
        assert found.result["verdict"] == "no shortcut found", found.result["candidates"]
        # the benchmark's choice, with masks and without
        assert found.result["method"] == "hirescam"
        assert found.maps.max() > 0 and found.maps.std() > 0        # real maps, not zeros
    assert main(["--model", trained["clean"], "--data", data, "--out", str(tmp_path),
                 "--fail-on-shortcut"]) == 0


def test_masks_that_do_not_match_the_images_are_refused(untrained, tmp_path, capsys):
    data = tmp_path / "data"
    phantoms.write_set(str(data), 6, 1, SIZE, progress=False)
    wrong = tmp_path / "roi"
    phantoms.write_set(str(tmp_path / "other"), 6, 1, SIZE * 2, progress=False)
    os.rename(tmp_path / "other" / "roi", wrong)               # masks twice the images' size
    out = tmp_path / "out"
    assert main(["--model", untrained, "--data", str(data), "--roi", str(wrong),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "do not match the images" in err and "96x96" in err and "48x48" in err
    assert not out.exists()
    os.remove(data / "roi" / "normal" / "1_00000.png")
    with pytest.raises(ValueError, match="no mask at"):
        cams.audit(untrained, str(data), None, str(data / "roi"))


def test_masks_of_a_csv_of_absolute_paths_are_found_by_class_and_file_name(untrained,
                                                                          tmp_path):
    from cams.audit import data as audit_data

    data = tmp_path / "data"
    phantoms.write_set(str(data), 6, 1, SIZE, progress=False)
    rows = [f"{data / c / f},{c}" for c in ("normal", "opacity")
            for f in sorted(os.listdir(data / c))]
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\n" + "\n".join(rows) + "\n")
    by_folder = audit_data.load(str(data), SIZE, str(data / "roi"))
    by_csv = audit_data.load(str(csv), SIZE, str(data / "roi"))
    np.testing.assert_array_equal(by_csv.roi, by_folder.roi)
    assert 0.05 < by_csv.roi.mean() < 0.5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no mask at"):     # the image is not its own mask
        audit_data.load(str(csv), SIZE, str(empty))
    with pytest.raises(ValueError, match="the image itself"):
        audit_data.load(str(data), SIZE, str(data))


def test_a_class_with_one_image(trained, tmp_path):
    data = tmp_path / "data"
    phantoms.write_set(str(data), 24, 2, SIZE, progress=False)
    for name in sorted(os.listdir(data / "normal"))[1:]:
        os.remove(data / "normal" / name)
        os.remove(data / "roi" / "normal" / name)
    found = cams.audit(trained["clean"], str(data), str(tmp_path / "out"), str(data / "roi"))
    assert found.result["per_class"]["normal"]["images_labelled"] == 1
    assert found.result["images"] == 13
    assert (tmp_path / "out" / "report.html").exists()


def test_a_folder_of_corrupt_images_is_refused_and_nothing_is_written(untrained, tmp_path,
                                                                     capsys):
    for label in ("normal", "opacity"):
        os.makedirs(tmp_path / "data" / label)
        for i in range(3):
            (tmp_path / "data" / label / f"{i}.png").write_bytes(b"not a png" * i)
    out = tmp_path / "out"
    assert main(["--model", untrained, "--data", str(tmp_path / "data"), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert "none of the 6 images" in err and "could be read" in err
    assert not out.exists()


def test_cams_audit_is_the_function_and_the_package():
    import cams.audit

    assert callable(cams.audit) and cams.audit.audit.__doc__
    with pytest.raises(ValueError, match="no folder at"):
        cams.audit(audit_models.tiny_cnn(SIZE, 0), "/no/such/folder")
