"""The benchmark's summary: verdicts taken again from the candidates with the audit's current
rule, rates with Wilson intervals, cells that never pool two architectures, clean controls in
every marker's cell, Sun et al.'s confounder sensitivity; the command's refusals."""
import numpy as np
import pytest

from train import audit_benchmark as bench, audit_models, audit_summary


def row(shortcut, transplanted, control=0.0, seed=0, roi=False, typical=0.5, kind="glyph",
        method="gradcam@conv3", untestable=()):
    """A benchmark row whose one candidate moves `transplanted` of 48 pasted images (the
    control `control`), with content of stereotypy `typical`."""
    candidate = {"class": "opacity", "region": [0, 0, 8, 8], "consistency": 0.9, "images": 20,
                 "in_roi": 0.1 if roi else None, "targets": 48,
                 "flips_transplanted": round(transplanted * 48),
                 "flips_control": round(control * 48), "stereotypy": typical,
                 "flip_rate_transplanted": transplanted, "flip_rate_control": control}
    return {"method": method, "roi": roi, "shortcut": shortcut, "seed": seed, "iou": 0.4,
            "kind": kind if shortcut else None, "share": 0.95 if shortcut else None,
            "candidates": [candidate], "untestable": list(untestable),
            "mass_in_lungs_opacity": 0.6, "seconds": 1.0, "learned": True,
            "confounder_sensitivity": 0.3 if shortcut else None}


def test_summary_takes_each_verdict_again_with_the_current_rule():
    rows = [row(True, 0.9, seed=0), row(True, 0.3, seed=1),
            row(False, 0.9, seed=2, typical=0.12),                 # decisive, the object
            row(False, 0.8, control=0.7, seed=3),                  # the control moves too
            row(False, 0.9, seed=4, typical=0.375),                # unclear: inconclusive
            row(False, 0.1, seed=5, untestable=["one class"])]     # untestable: inconclusive
    rows.append({**row(True, 0.1), "learned": False})             # never learned: left out
    (table,) = audit_summary.summary(rows)
    assert table["flagged"] == "1/2 = 0.50 [0.09, 0.91]"
    assert table["false_alarms"] == "0/4 = 0.00 [0.00, 0.49]"
    assert table["inconclusive_clean"] == "2/4 = 0.50 [0.15, 0.85]"
    # scores: shortcut 0.9, 0.3; clean 0 (the object), 0.1, 0.45 (half an artifact), 0.1
    assert table["auroc"] == pytest.approx(7 / 8)
    assert table["median_iou"] == 0.4 and table["sensitivity"] == pytest.approx(0.3)


def test_cells_never_pool_two_architectures_and_each_kind_gets_the_clean_controls():
    rows = [{**row(True, 0.9, kind="glyph"), "arch": "cnn3"},
            {**row(True, 0.1, kind="text"), "arch": "cnn3"},
            {**row(False, 0.0), "arch": "cnn3"},
            {**row(True, 0.1), "blocks": 4}]                   # written before --arch
    tables = {(t["arch"], t.get("kind")): t for t in audit_summary.summary(rows, ["kind"])}
    assert set(tables) == {("cnn3", "glyph"), ("cnn3", "text"), ("cnn4", "glyph")}
    assert tables["cnn3", "glyph"]["flagged"].startswith("1/1")
    assert tables["cnn3", "text"]["flagged"].startswith("0/1")
    assert tables["cnn3", "glyph"]["false_alarms"] == tables["cnn3", "text"]["false_alarms"]
    assert tables["cnn3", "text"]["false_alarms"].startswith("0/1")
    assert tables["cnn4", "glyph"]["false_alarms"] is None     # no clean cnn4 model


def test_confounder_sensitivity_is_the_share_of_marker_pixels_in_the_top_tenth():
    maps = np.zeros((2, 10, 10))
    maps[0, :2, :] = 1                       # the top 10% of pixels: the first row (ties in)
    maps[0, 0, :] = 2
    marker = np.zeros((2, 10, 10), bool)
    marker[0, 0, :5] = marker[0, 5, :5] = True   # half of it in the top 10%
    assert audit_summary.confounder_sensitivity(maps, marker) == pytest.approx(0.5)
    assert audit_summary.confounder_sensitivity(maps, np.zeros_like(marker)) is None


@pytest.mark.parametrize("arch, size", [("cnn4", 64), ("cnn3", 64), ("mobilenetv2", 64),
                                        ("vit", 64)])
def test_each_architecture_has_the_layers_its_default_methods_explain(arch, size):
    import cams

    model = audit_models.ARCHS[arch].build(size, 0)
    args = bench.parse(["--out", "x", "--arch", arch, "--size", str(size)])
    assert args.methods == list(audit_models.ARCHS[arch].methods)
    for method in args.methods:
        path = audit_models.layer_path(arch, method.split("@")[1], size)
        assert path in cams.conv_layers(model), path


def test_a_layer_the_model_lacks_is_refused_before_any_training(capsys):
    with pytest.raises(SystemExit):
        bench.parse(["--out", "x", "--arch", "cnn3", "--methods", "gradcam@conv4"])
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
    bench._print(audit_summary.summary(rows))
    assert "no model reached balanced accuracy 0.8" in capsys.readouterr().out


def test_marker_pixels_are_what_the_marker_changed_in_the_audit_sets_order(tmp_path):
    from cams.audit.data import load
    from train import phantoms

    films = bench.Films("phantoms")
    marker = phantoms.Shortcut("obstruction", "opacity", 0.5, "right-lung")
    films.write(str(tmp_path / "set"), 12, 3, 48, marker, str(tmp_path / "masks"))
    films.write(str(tmp_path / "clean"), 12, 3, 48, None)
    got = bench.marker_pixels(str(tmp_path / "set"), str(tmp_path / "masks"), 48)
    marked, clean = (load(str(tmp_path / f), 48).images for f in ("set", "clean"))
    np.testing.assert_array_equal(got, (marked != clean).any(axis=-1))
    assert 0 < got.any(axis=(1, 2)).sum() < 12                 # some films marked, not all
    assert bench.marker_pixels(str(tmp_path / "clean"), None, 48) is None
