"""train.evaluate on the shipped model: the report, its Markdown, both data sources."""
import json

import pytest

import cams
from train import evaluate, phantoms

MODEL = "models/xray_phantoms.keras"


def test_evaluate_on_a_folder_with_masks(tmp_path, capsys):
    phantoms.write_set(str(tmp_path / "set"), n=12, seed=31, progress=False)
    out = tmp_path / "report"
    assert evaluate.main(["--model", MODEL, "--data", str(tmp_path / "set"),
                          "--out", str(out)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_images"] == 12 and report["class_names"] == ["normal", "opacity"]
    assert sum(map(sum, report["confusion"])) == 12
    assert set(report["localization"]) == set(cams.BACKENDS)
    for r in report["localization"].values():
        assert r["n_images"] == 6 and 0 <= r["pointing_game"] <= 1
    table = (tmp_path / "report.md").read_text()
    assert "| pointing game |" in table and "| tf-keras-vis |" in table
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_on_fresh_phantoms_with_one_backend(tmp_path):
    assert evaluate.main(["--model", MODEL, "--phantoms", "8", "--seed", "5",
                          "--backends", "eager", "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["localization"]) == ["eager"]


def test_missing_model_and_empty_data_are_clear_errors(tmp_path, capsys):
    assert evaluate.main(["--model", str(tmp_path / "none.keras"), "--phantoms", "4"]) == 2
    (tmp_path / "empty").mkdir()
    assert evaluate.main(["--model", MODEL, "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no model file" in err and "needs at least two class folders" in err


@pytest.mark.parametrize("bad", [["--phantoms", "4", "--data", "x"], []])
def test_exactly_one_data_source(bad):
    with pytest.raises(SystemExit):
        evaluate.main(["--model", MODEL] + bad)
