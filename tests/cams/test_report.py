"""python -m cams.report on the shipped model: every column, sane ranges, clear errors."""
import json
import pathlib

import numpy as np
import pytest

import cams
from cams import metrics, report
from cams.metrics import perturbation, randomization
from train import phantoms

MODEL = "models/xray_phantoms.keras"
DATA = pathlib.Path(__file__).parent / "data"
FAST = ["--steps", "4", "--road-percentages", "20", "80", "--max-images", "4",
        "--scorecam-top-k", "16"]
ROBUSTNESS = {"max_sensitivity", "local_lipschitz"}   # off unless --robustness is given


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """4 phantoms with their lesion masks, as a class-per-folder set."""
    root = tmp_path_factory.mktemp("phantoms")
    phantoms.write_set(str(root), 4, seed=9, progress=False)
    return str(root)


def test_report_on_phantoms(tmp_path, capsys, folder, monkeypatch):
    """Every method; the numbers are those cams.report gave before its metrics were batched
    (tests/cams/data/report_before_batching.json, by the same command on the same phantoms)."""
    copies, made = [], metrics.randomized_copy
    counted = lambda *args, **kwargs: copies.append(1) or made(*args, **kwargs)  # noqa: E731
    monkeypatch.setattr(metrics, "randomized_copy", counted)
    monkeypatch.setattr(randomization, "randomized_copy", counted)
    references, check, originals = [], metrics.randomization_check, []

    def reference(*args, **kwargs):
        references.append(1)
        return perturbation.reference_probabilities(*args, **kwargs)

    def checked(model, x, explain, layer, **kwargs):   # the maps given, and explained afresh
        originals.append((kwargs["original"], explain(model, x)))
        return check(model, x, explain, layer, **kwargs)
    monkeypatch.setattr(metrics, "reference_probabilities", reference)
    monkeypatch.setattr(metrics, "randomization_check", checked)
    out = tmp_path / "r"
    assert report.main(["--model", MODEL, "--data", folder, "--out", str(out)] + FAST) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n_images"] == 4 and result["layer"].startswith("mobilenetv2")
    assert list(result["methods"]) == list(cams.METHODS)
    for row in result["methods"].values():
        assert set(row) == {key for key, _, _ in report.columns()} - ROBUSTNESS | {
            "forward_passes", "gradient_passes"}
        assert 0 <= row["gradient_passes"] < row["forward_passes"]
        for key in ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc"):
            assert 0 <= row[key] <= 1
        assert -1 <= row["road_gap"] <= 1 and -1 <= row["randomization_rho"] <= 1
        assert 0 <= row["average_drop_pct"] <= 100 and row["seconds_per_image"] > 0
        assert 0 <= row["rank_accuracy"] <= 1 and 0 <= row["mask_auc"] <= 1
        assert 0 <= row["sparseness"] < 1 and 0 < row["entropy"] <= np.log(224 * 224)
        assert -1 <= row["random_logit_rho"] <= 1
    # Eigen-CAM reads only the activations: re-drawing the layers above cannot change it.
    assert result["methods"]["eigencam"]["randomization_rho"] > 0.99
    # every pass counted: the rows' and the three shared copies of each image no map changes
    assert result["forward_passes"] == 3 * 4 + sum(
        r["forward_passes"] for r in result["methods"].values())
    assert result["methods"]["scorecam"]["forward_passes"] > 16 * 4  # its masked copies
    assert result["methods"]["gradcam"]["gradient_passes"] >= 4      # and the randomized
    assert result["methods"]["eigencam"]["gradient_passes"] == 0     # copy's maps
    assert len(copies) == 1                        # one randomized copy for the ten methods
    assert len(references) == 1                    # one set of map-free probabilities
    assert len(originals) == len(cams.METHODS)
    for original, fresh in originals:              # the report's maps, as explained afresh
        assert original.std() > 0
        np.testing.assert_allclose(original, fresh, atol=1e-6)
    before = json.loads((DATA / "report_before_batching.json").read_text())["methods"]
    # not the randomization rho: its weights are drawn with NumPy now, the same under every
    # Keras backend, not by Keras' TensorFlow RNG as when the file was written
    # (test_randomization.py checks the draws; test_keras_backends.py the rho across backends)
    for key in [k for k, _, _ in report.columns()[1:]
                if k != "randomization_rho" and k in before["gradcam"]]:
        got = [result["methods"][m][key] for m in before]
        want = [before[m][key] for m in before]
        np.testing.assert_allclose(got, want, atol=_across_machines(key), err_msg=key)
    for key in ("energy_in_mask", "deletion_auc", "road_gap", "randomization_rho"):
        assert np.std([row[key] for row in before.values()]) > 0.02   # methods differ
    table = (tmp_path / "r.md").read_text()
    assert "| gradcam |" in table and "pointing ↑" in table
    assert "By category — localisation: pointing, energy, rank acc., AUC; faithfulness:" in table
    assert result["metrics"]["mask_auc"] == {
        "header": "AUC ↑", "category": "localisation", "higher_is_better": True,
        "needs": ["mask"], "source": "Fawcett 2006", "reported": True}
    # Eigen-CAM ignores the class: another class's map is the same map
    assert result["methods"]["eigencam"]["random_logit_rho"] > 0.99
    assert result["methods"]["gradcam"]["random_logit_rho"] < 0.9
    assert "Wrote" in capsys.readouterr().out


def test_robustness_is_asked_for_and_then_scored(tmp_path, folder):
    assert report.main(["--model", MODEL, "--data", folder, "--methods", "gradcam", "eigencam",
                        "--robustness", "2", "--out", str(tmp_path / "r")] + FAST) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["robustness_samples"] == 2
    for row in result["methods"].values():
        assert row["max_sensitivity"] > 0 and row["local_lipschitz"] > 0
    assert "robustness: max-sens., Lipschitz" in (tmp_path / "r.md").read_text()


def test_tf_keras_vis_backend_lists_what_it_cannot_do(tmp_path, folder):
    assert report.main(["--model", MODEL, "--data", folder, "--backend", "tf-keras-vis",
                        "--methods", "layercam", "hirescam", "--out", str(tmp_path / "r")]
                       + FAST) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert "pointing_game" in result["methods"]["layercam"]
    assert "eager, graph" in result["methods"]["hirescam"]["error"]
    assert "- hirescam:" in (tmp_path / "r.md").read_text()


def test_bad_model_data_and_layer_are_clear_errors(tmp_path, capsys, folder):
    assert report.main(["--model", str(tmp_path / "none.keras"), "--data", folder]) == 2
    assert report.main(["--model", MODEL, "--data", folder, "--layer", "nope"]) == 2
    assert report.main(["--model", MODEL, "--data", str(tmp_path / "missing")]) == 2
    (tmp_path / "a-file").write_text("")
    assert report.main(["--model", MODEL, "--data", folder,        # refused before any work
                        "--out", str(tmp_path / "a-file" / "r")]) == 2
    err = capsys.readouterr().err
    assert "no model file" in err and "unknown layer 'nope'" in err and "no folder at" in err
    assert "cannot write the report at" in err


def test_a_stopped_report_continues_with_the_methods_still_missing(tmp_path, folder, capsys,
                                                                    monkeypatch):
    """Stopped while scoring its second method, the report keeps the first; the same command
    scores only the second and writes what an uninterrupted run writes. Rows saved under other
    settings are not reused."""
    methods = ["gradcam", "eigencam"]
    args = ["--model", MODEL, "--data", folder, "--methods", *methods] + FAST
    # What an uninterrupted run gives on this machine.
    assert report.main(args + ["--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole.json").read_text())
    scored, score = [], report.score_method

    def scoring(stop_at=None):
        def score_or_stop(model, x, classes, masks, has_mask, method, *rest, **kwargs):
            if method == stop_at:
                raise KeyboardInterrupt
            scored.append(method)
            return score(model, x, classes, masks, has_mask, method, *rest, **kwargs)
        monkeypatch.setattr(report, "score_method", score_or_stop)

    scoring(stop_at="eigencam")
    out = str(tmp_path / "stopped")
    assert report.main(args + ["--out", out]) == 130
    assert "the same command continues" in capsys.readouterr().err
    assert not (tmp_path / "stopped.json").exists()
    partial = tmp_path / "stopped.partial.json"
    saved = json.loads(partial.read_text())
    assert list(saved["methods"]) == ["gradcam"] and scored == ["gradcam"]

    scoring()
    scored.clear()
    assert report.main(args + ["--out", out]) == 0
    assert scored == ["eigencam"]
    assert "continuing: 1 of 2 methods" in capsys.readouterr().out
    resumed = json.loads((tmp_path / "stopped.json").read_text())
    assert list(resumed["methods"]) == methods
    assert not partial.exists()                                 # gone once the report is whole
    for method in methods:
        for key in [k for k, _, _ in report.columns()[1:] if k not in ROBUSTNESS]:
            scale = 100 if key.endswith("_pct") else 1
            np.testing.assert_allclose(resumed["methods"][method][key],
                                       whole["methods"][method][key], atol=1e-6 * scale,
                                       err_msg=key)
    assert whole["methods"]["gradcam"]["deletion_auc"] != whole["methods"]["eigencam"][
        "deletion_auc"]                                         # two different rows

    # The first row, as if saved with 3 deletion steps: this run (4 steps) scores it again.
    report.save_rows(str(partial), {**saved["settings"], "steps": 3}, saved["methods"])
    scored.clear()
    assert report.main(["--model", MODEL, "--data", folder, "--methods", "gradcam", "--out",
                        out] + FAST) == 0
    assert scored == ["gradcam"]
    assert "starting afresh" in capsys.readouterr().out


def _across_machines(key):
    """How far a column may move between the machine that wrote report_before_batching.json
    and this one, whose CPU kernels sum in another order: 1e-5 for the smooth ones, 0.01 for a
    percentage (the average drop moved 0.0022 points on an AVX-512 machine); 0.02 for those
    that rank pixels or images, where a map 1e-7 different can swap two pixels (Eigen-CAM's
    deletion AUC moved 0.0087 there)."""
    if key in ("deletion_auc", "insertion_auc", "road_gap", "randomization_rho"):
        return 0.02
    return 0.01 if key.endswith("_pct") else 1e-5


def test_a_model_that_is_not_square_is_reported_at_its_own_size(tmp_path, folder):
    from cams.io import modelcard
    from tests.models import two_class_cnn

    path = str(tmp_path / "wide.keras")
    two_class_cnn((40, 56, 3), filters=8, seed=3).save(path)
    modelcard.write(path, modelcard.ModelCard(("normal", "opacity"), (40, 56, 3), "none", "conv"))
    assert report.main(["--model", path, "--data", folder, "--methods", "gradcam",
                        "--out", str(tmp_path / "r")] + FAST) == 0
    row = json.loads((tmp_path / "r.json").read_text())["methods"]["gradcam"]
    assert 0 <= row["pointing_game"] <= 1 and 0 <= row["deletion_auc"] <= 1


def test_passes_are_counted_where_the_model_runs(folder):
    """cams.forward.passes counts each image a backend or the metrics run: a gradient method's
    batch is one differentiated pass per image, the metrics' copies one forward pass each."""
    from cams.io import modelcard
    from cams.forward import passes

    model, card = modelcard.load(MODEL)
    x = np.random.default_rng(0).normal(size=(5, 224, 224, 3)).astype(np.float32)
    before = passes()
    cams.explain(model, x, batch_size=2)
    middle = passes()
    assert middle["gradient"] - before["gradient"] == 5
    assert middle["forward"] == before["forward"]
    metrics.class_probability(model, x, np.zeros(5, np.int32), batch_size=2)
    assert passes()["forward"] - middle["forward"] == 5


def test_the_cost_command_prices_the_full_and_quick_reports(folder, tmp_path):
    """cams.bench --report: both reports' passes against the same forward pass; the quick
    preset runs fewer, and the methods' rankings are compared metric by metric."""
    from cams import report_cost

    args = ["--max-images", "4", "--road-percentages", "20",
            "--methods", "gradcam", "gradcam++", "layercam", "hirescam"]
    found = report_cost.run(MODEL, folder, str(tmp_path), args, quick=True)
    full, quick = found["full"], found["quick"]
    assert found["forward_s_per_image"] > 0 and full["floor_s"] > 0
    assert full["ratio"] == pytest.approx(full["wall_s"] / full["floor_s"])
    assert 0 < quick["forward_passes"] < 0.5 * full["forward_passes"]
    assert quick["share_of_passes"] == pytest.approx(
        quick["forward_passes"] / full["forward_passes"])
    assert "deletion_auc" in found["agreement"]
    assert all(-1 <= rho <= 1 for rho in found["agreement"].values())
    assert "| quick |" in report_cost.table(found)


def test_rank_agreement_compares_rankings_not_values():
    from cams import report_cost

    full = {m: {"deletion_auc": v, "road_gap": 0.1} for m, v in zip("abcd", (1, 2, 3, 4))}
    same = {m: {"deletion_auc": 10 * v, "road_gap": 0.2} for m, v in zip("abcd", (1, 2, 3, 4))}
    turned = {m: {"deletion_auc": v, "road_gap": 0.2} for m, v in zip("abcd", (4, 3, 2, 1))}
    assert report_cost.rank_agreement(full, same) == {"deletion_auc": pytest.approx(1.0)}
    assert report_cost.rank_agreement(full, turned) == {"deletion_auc": pytest.approx(-1.0)}


def test_quick_fills_only_what_was_not_given():
    base = ["--model", MODEL, "--data", "d"]
    quick = report.parse(base + ["--quick"])
    assert (quick.steps, quick.road_percentages, quick.scorecam_top_k,
            quick.ablationcam_top_k) == (8, [50], 32, 32)
    mine = report.parse(base + ["--quick", "--steps", "4", "--road-percentages", "20", "80"])
    assert (mine.steps, mine.road_percentages, mine.scorecam_top_k) == (4, [20, 80], 32)
    full = report.parse(base)
    assert (full.steps, full.road_percentages, full.scorecam_top_k,
            full.ablationcam_top_k) == (32, [20, 50, 80], None, None)


def test_the_cost_command_says_what_is_missing(tmp_path, capsys):
    from cams import bench

    assert bench.main(["--report", "--data", str(tmp_path), "--report-model",
                       str(tmp_path / "none.keras"), "--json", str(tmp_path / "b.json")]) == 2
    assert "no model file at" in capsys.readouterr().err
