"""The benchmark's summary: rates recomputed from the candidates with the verdict's thresholds,
and the threshold sweep beside them."""
import pytest

from cams.audit.verdict import FLIP
from train import audit_benchmark as bench


def row(shortcut, transplanted, control=0.0, seed=0, roi=True, method="gradcam@conv3"):
    """A benchmark row whose one candidate has these flip rates (eligible otherwise)."""
    candidate = {"consistency": 0.9, "images": 20, "in_roi": 0.1,
                 "flip_rate_transplanted": transplanted, "flip_rate_control": control}
    return {"method": method, "roi": roi, "shortcut": shortcut, "seed": seed, "iou": 0.4,
            "candidates": [candidate], "mass_in_lungs": 0.3, "mass_in_lungs_opacity": 0.6,
            "mass_in_lungs_normal": 0.1, "seconds": 1.0, "learned": True}


def test_summary_counts_flags_from_the_current_thresholds():
    rows = [row(True, 0.9, seed=0), row(True, 0.3, seed=1), row(False, 0.2, seed=2),
            row(False, 0.8, control=0.7, seed=3), row(False, 0.9, seed=4)]
    rows.append({**row(True, 0.1), "learned": False})    # never learned: left out
    (table,) = [t for t in bench.summary(rows) if t["roi"]]
    assert table["shortcut_models"] == 2 and table["clean_models"] == 3
    assert table["detection_rate"] == 0.5                  # 0.9 flagged, 0.3 not
    assert table["false_alarm_rate"] == pytest.approx(1 / 3)  # 0.8 - 0.7 control is 0.1
    assert table["auroc"] == pytest.approx((1 + 1 + 0.5 + 1 + 1 + 0) / 6)  # 0.9 ties 0.9
    assert table["clean_mass_in_lungs_opacity"] == 0.6
    assert table["median_iou"] == 0.4


def test_sweep_moves_with_the_threshold():
    rows = [row(True, 0.45), row(True, 0.95), row(False, 0.35), row(False, 0.05)]
    (sweep,) = [s for s in bench.sweep(rows, (0.3, 0.4, FLIP, 0.99)) if s["roi"]]
    assert sweep["flip 0.3"] == "1.00 / 0.50" and sweep["flip 0.4"] == "1.00 / 0.00"
    assert sweep[f"flip {FLIP}"] == "0.50 / 0.00" and sweep["flip 0.99"] == "0.00 / 0.00"


@pytest.mark.parametrize("blocks, last", [(4, 8), (3, 16)])
def test_each_cnn_has_the_layers_its_default_methods_explain(blocks, last):
    model = bench.tiny_cnn(64, 0, blocks)
    convs = {layer.name: layer.output.shape[1] for layer in model.layers
             if layer.name.startswith("conv")}
    assert len(convs) == blocks and convs[f"conv{blocks}"] == last
    args = bench.parse(["--out", "x", "--blocks", str(blocks)])
    assert args.methods == list(bench.METHODS[blocks])
    assert {m.split("@")[1] for m in args.methods} <= set(convs)


def test_two_cnns_are_summarized_apart_never_pooled(tmp_path, capsys):
    import json

    four = [row(True, 0.9, seed=0), row(False, 0.1, seed=1)]        # rows without "blocks"
    three = [{**row(True, 0.2, seed=2), "blocks": 3}, {**row(False, 0.1, seed=3), "blocks": 3}]
    tables = {(t["blocks"], t["roi"]): t for t in bench.summary(four + three)}
    assert tables[4, True]["detection_rate"] == 1.0 and tables[3, True]["detection_rate"] == 0.0
    assert tables[3, True]["shortcut_models"] == tables[4, True]["shortcut_models"] == 1
    # files written before rows named their CNN take it from the file's command
    for name, rows, blocks in (("a", four, 4), ("b", three, 3)):
        run = {"command": {"blocks": blocks}, "rows": [
            {k: v for k, v in r.items() if k != "blocks"} for r in rows]}
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
    bench.main(["--out", str(tmp_path), "--summarize", str(tmp_path / "a.json"),
                str(tmp_path / "b.json")])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "| True |" in ln]
    assert [ln.split(" | ")[0] for ln in lines][:2] == ["| 4", "| 3"]


def test_a_layer_the_cnn_lacks_is_refused_before_any_training(capsys):
    with pytest.raises(SystemExit):
        bench.parse(["--out", "x", "--blocks", "3", "--methods", "gradcam@conv4"])
    assert "conv1, conv2, conv3" in capsys.readouterr().err


def test_unknown_methods_and_a_missing_out_are_refused_at_once(capsys):
    import cams

    assert bench.NAMES == tuple(cams.METHODS)          # the command's list is the library's
    with pytest.raises(SystemExit):
        bench.parse(["--out", "x", "--methods", "foocam@conv3"])
    assert "unknown method; known: gradcam" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse([])
    assert "--out is required" in capsys.readouterr().err
    assert bench.parse(["--summarize", "a.json"]).out is None


def test_a_run_where_no_model_learned_says_so(capsys):
    rows = [{**row(True, 0.9), "learned": False}, {**row(False, 0.1), "learned": False}]
    bench._print(bench.summary(rows), bench.sweep(rows))
    assert "no model reached balanced accuracy 0.8" in capsys.readouterr().out
    (swept,) = [s for s in bench.sweep([row(True, 0.9)]) if s["roi"]]
    assert swept["flip 0.5"] == "1.00 / —"             # no clean model: a dash, not nan
