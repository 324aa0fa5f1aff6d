"""The audit on models nobody here wrote: a non-square input is audited at its own size (masks
included), the layer the maps came from is recorded when the default was used, and a model
that takes images of any size is refused with a sentence, not a traceback."""
import json
import shutil

import numpy as np
import pytest

import cams
from cams.audit.__main__ import main
from tests.models import two_class_cnn
from train import phantoms

H, W = 32, 48


def tiny(shape):
    """Two convolutions (conv1, conv2), global average pooling, a softmax over 2 classes."""
    return two_class_cnn(shape, convs=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    phantoms.write_set(str(root), 8, 3, 64, progress=False)
    return str(root)


def test_a_non_square_model_is_audited_at_its_size(data, tmp_path):
    path = str(tmp_path / "wide.keras")
    tiny((H, W, 3)).save(path)                                 # no card beside it
    found = cams.audit(path, data, str(tmp_path / "out"), roi=f"{data}/roi")
    assert found.data.images.shape == (8, H, W, 3) and found.data.roi.shape == (8, H, W)
    assert found.maps.shape == (8, H, W) and found.maps.max() > 0 and found.maps.std() > 0
    with open(tmp_path / "out" / "audit.json") as f:
        result = json.load(f)
    assert result["layer"] == "conv2"                          # the default, named
    assert any("class names" in n for n in result["notes"])    # and the card's defaults
    assert "what the audit assumed" in (tmp_path / "out" / "report.html").read_text()
    for cand in result["candidates"]:
        x0, y0, x1, y1 = cand["region"]
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H


def test_a_model_of_any_input_size_is_refused_with_a_sentence(data, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"any size \(input \(None, None, 3\)\)"):
        cams.audit(tiny((None, None, 3)), data)
    path = str(tmp_path / "any.keras")
    tiny((None, None, 3)).save(path)
    assert main(["--model", path, "--data", data, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "any size" in err and "input_size" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_refused_before_anything_is_computed(data, tmp_path,
                                                                         capsys):
    path = str(tmp_path / "wide.keras")
    tiny((H, W, 3)).save(path)
    (tmp_path / "taken").write_text("mine")
    assert main(["--model", path, "--data", data, "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert "is a file; give a folder" in err and "Traceback" not in err
    assert (tmp_path / "taken").read_text() == "mine"


def test_the_command_says_which_defaults_stood_in_for_a_missing_card(data, tmp_path, capsys):
    path = str(tmp_path / "wide.keras")
    tiny((H, W, 3)).save(path)
    assert main(["--model", path, "--data", data, "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = [ln for ln in lines if ln.startswith("note: ")]
    assert lines[:len(notes)] == notes                         # the notes come first
    assert lines[len(notes)].startswith(("no shortcut found", "shortcut suspected",
                                         "inconclusive"))

    def defaults(result):
        return [n for n in result["notes"] if "class names" in n or "preprocessing" in n]
    assert len(defaults({"notes": notes})) == 2
    found = cams.audit(tiny((H, W, 3)), data)                  # a model object, nothing said
    assert len(defaults(found.result)) == 2
    found = cams.audit(tiny((H, W, 3)), data, preprocess="mobilenetv2",
                       class_names=("normal", "opacity"))
    assert defaults(found.result) == []


def test_without_a_card_the_class_folders_name_the_classes_and_the_command_can(data, tmp_path,
                                                                               capsys):
    found = cams.audit(tiny((H, W, 3)), data)
    assert list(found.result["per_class"]) == ["normal", "opacity"]   # sorted folder names
    assert [v["images_labelled"] for v in found.result["per_class"].values()] == [4, 4]
    assert any("class folders in sorted order" in n for n in found.result["notes"])
    path = str(tmp_path / "wide.keras")
    tiny((H, W, 3)).save(path)
    assert main(["--model", path, "--data", data, "--out", str(tmp_path / "out"),
                 "--class-names", "opacity, normal", "--preprocess", "unit"]) == 0
    with open(tmp_path / "out" / "audit.json") as f:
        result = json.load(f)
    assert list(result["per_class"]) == ["opacity", "normal"]
    assert not any("class names" in n or "preprocessing" in n for n in result["notes"])
    assert main(["--model", path, "--data", data, "--out", str(tmp_path / "out"),
                 "--class-names", "one,two,three"]) == 2
    assert "3 class names given; the model has 2 classes" in capsys.readouterr().err


def test_a_model_that_predicts_one_class_is_inconclusive_as_the_transplant_cannot_run(
        data, tmp_path, capsys):
    model = tiny((H, W, 3))
    head = model.layers[-1]
    head.set_weights([head.get_weights()[0] * 0, np.array([5.0, 0.0], np.float32)])
    found = cams.audit(model, data, class_names=("normal", "opacity"))
    assert set(found.predicted.tolist()) == {0}
    assert found.result["verdict"] == "inconclusive"
    assert any("predicts normal for every image" in n for n in found.result["reasons"])
    (tmp_path / "data").mkdir()
    shutil.copytree(data, tmp_path / "data" / "set")
    (tmp_path / "data" / "set" / "normal" / "broken.png").write_bytes(b"not a png")
    path = str(tmp_path / "m.keras")
    tiny((H, W, 3)).save(path)
    main(["--model", path, "--data", str(tmp_path / "data" / "set"), "--out",
          str(tmp_path / "out")])
    verdict = [ln for ln in capsys.readouterr().out.splitlines() if "score" in ln][0]
    assert "8 images, 1 unreadable skipped" in verdict
