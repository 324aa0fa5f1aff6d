"""python -m cams.report on the shipped model: every column, sane ranges, clear errors."""
import json

from cams import report

MODEL = "models/xray_phantoms.keras"
FAST = ["--steps", "4", "--road-percentages", "50", "--max-images", "4"]


def test_report_on_phantoms(tmp_path, capsys):
    out = tmp_path / "r"
    assert report.main(["--model", MODEL, "--phantoms", "4", "--seed", "9", "--methods",
                        "gradcam", "eigencam", "guided-backprop", "--out", str(out)] + FAST) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n_images"] == 4 and result["layer"].startswith("mobilenetv2")
    assert list(result["methods"]) == ["gradcam", "eigencam", "guided-backprop"]
    for row in result["methods"].values():
        assert set(row) == {key for key, _, _ in report.COLUMNS}
        for key in ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc"):
            assert 0 <= row[key] <= 1
        assert -1 <= row["road_gap"] <= 1 and -1 <= row["randomization_rho"] <= 1
        assert 0 <= row["average_drop_pct"] <= 100 and row["seconds_per_image"] > 0
    # Eigen-CAM reads only the activations: re-drawing the layers above cannot change it.
    assert result["methods"]["eigencam"]["randomization_rho"] > 0.99
    table = (tmp_path / "r.md").read_text()
    assert "| gradcam |" in table and "pointing ↑" in table
    assert "Wrote" in capsys.readouterr().out


def test_tf_keras_vis_backend_lists_what_it_cannot_do(tmp_path):
    assert report.main(["--model", MODEL, "--phantoms", "2", "--backend", "tf-keras-vis",
                        "--methods", "layercam", "hirescam", "--out", str(tmp_path / "r")]
                       + FAST) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert "pointing_game" in result["methods"]["layercam"]
    assert "eager, graph" in result["methods"]["hirescam"]["error"]
    assert "- hirescam:" in (tmp_path / "r.md").read_text()


def test_bad_model_and_layer_are_clear_errors(tmp_path, capsys):
    assert report.main(["--model", str(tmp_path / "none.keras"), "--phantoms", "2"]) == 2
    assert report.main(["--model", MODEL, "--phantoms", "2", "--layer", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no model file" in err and "unknown layer 'nope'" in err
