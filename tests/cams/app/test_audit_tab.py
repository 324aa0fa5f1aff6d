"""The Audit tab: zips unpacked safely and within bounds, the shipped examples' audit shown when
the page opens, an uploaded zip audited with its masks, errors a person can act on, a verdict
that says what it rests on, and help that names the model's classes."""
import io
import os
import re
import zipfile
from types import SimpleNamespace

import gradio as gr
import pytest

from cams.app import audit_tab, audits
from cams.app.uploads import BadInput
from tests.cams.app.files import EXAMPLES


def zipped(files):
    """A zip (bytes) of {name: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def example_files(prefix=""):
    out = {}
    for label in ("normal", "opacity"):
        for name in sorted(os.listdir(os.path.join(EXAMPLES, label))):
            with open(os.path.join(EXAMPLES, label, name), "rb") as f:
                out[f"{prefix}{label}/{name}"] = f.read()
    return out


def test_unzip_keeps_class_folders_and_drops_one_top_folder(tmp_path):
    n = audits.unzip(zipped({**example_files("set/"), "set/readme.txt": b"x"}), str(tmp_path))
    assert n == 6 and sorted(os.listdir(tmp_path)) == ["normal", "opacity"]


@pytest.mark.parametrize("files, message", [
    ({"../evil.png": b"x"}, "leaves its folder"),
    ({"/abs.png": b"x"}, "leaves its folder"),
    ({"a.txt": b"x"}, "holds no image"),
    ({f"normal/{i}.png": b"x" for i in range(audits.MAX_IMAGES + 1)}, "at most 200"),
])
def test_unzip_refuses_what_it_cannot_take(tmp_path, files, message):
    with pytest.raises(BadInput, match=message):
        audits.unzip(zipped(files), str(tmp_path))
    with pytest.raises(BadInput, match="not a zip"):
        audits.unzip(b"plain bytes", str(tmp_path))


def test_the_examples_audit_and_an_upload(app):
    runner = audits.Audits(app)
    found, report = runner.examples()
    assert found.result["images"] == 6 and os.path.isfile(report)
    assert runner.examples()[0] is found                          # computed once
    summary, means, groups, proof, path = audit_tab.shown(found, report)
    assert found.result["verdict"] in summary and len(means) == 4 and groups
    steps = []
    found, report = runner.run(zipped(example_files()), None, lambda f, s: steps.append(s))
    assert found.result["images"] == 6 and steps[0] == "read" and "report" in steps
    with pytest.raises(BadInput, match="do not match the images"):
        runner.run(zipped(example_files()), zipped({"normal/2024_00000.png":
                                                   example_files()["normal/2024_00000.png"]}))
    with pytest.raises(BadInput, match="upload a zip"):
        runner.run(None)


def test_figure_rows_are_shown_as_rows_of_whole_tiles():
    import numpy as np

    from cams.audit import figures

    tiles = [np.full((figures.THUMB, figures.THUMB, 3), v, np.uint8) for v in (10, 20, 30)]
    items = audit_tab.as_grid([(tiles, "three"), (tiles[:1], "one")], 4)
    assert len(items) == 8                                       # two rows of four
    assert [c for _, c in items] == ["three", None, None, None, "one", None, None, None]
    for (tile, _), value in zip(items, (10, 20, 30, 255, 10, 255, 255, 255)):
        assert tile.shape == (figures.THUMB, figures.THUMB, 3) and (tile == value).all()


def audited(**result):
    """An Audit-like object: `result` over a "no shortcut found" audit.json with one candidate
    whose fields beyond the rates are missing (no stereotypy, status or bounds)."""
    candidate = {"class": "opacity", "region": [56, 42, 70, 56], "images": 3,
                 "flip_rate_removed": 0.0, "flip_rate_transplanted": None,
                 "flip_rate_control": None, "suspicion": 0.0}
    base = {"verdict": "no shortcut found", "score": 0.0, "thresholds": {"flip": 0.5},
            "images": 3, "skipped": [], "roi": False, "notes": [], "candidates": [candidate]}
    return SimpleNamespace(result={**base, **result}, timings={"read": 0.1, "maps": 0.2})


def test_an_inconclusive_verdict_shows_why_and_the_notes():
    reason = ("the model predicts opacity for every image: no image of another class to paste "
              "a region onto")
    note = "preprocessing unknown: pixels 0..255 are passed as they are"
    shown = audit_tab.summary(audited(verdict="inconclusive", reasons=[reason], notes=[note]))
    assert shown.startswith("### inconclusive")
    assert f"**Why inconclusive:**\n\n- {reason}" in shown
    assert f"**Notes:**\n\n- {note}" in shown
    assert shown.index(reason) < shown.index(note) < shown.index("| class |")


def test_the_summary_shows_bounds_stereotypy_and_status_and_dashes_where_missing():
    plain = audit_tab.summary(audited(notes=["a *starred* name_with_underscores"]))
    assert "Why" not in plain and "bounds" not in plain and "| 0.00 | — | — |" in plain
    assert "- a \\*starred\\* name\\_with\\_underscores" in plain    # shown as written
    candidate = {"class": "normal", "region": [0, 0, 28, 28], "images": 5,
                 "flip_rate_removed": 0.2, "flip_rate_transplanted": 0.75,
                 "flip_rate_control": 0.1, "suspicion": 0.65, "stereotypy": 0.83,
                 "status": "shortcut",
                 "transplant_ci": [0.41, 0.93]}
    new = audit_tab.summary(audited(verdict="shortcut suspected", candidates=[candidate],
                                    reasons=[]))
    row = next(line for line in new.splitlines() if line.startswith("| normal"))
    assert "75% (41%–93%)" in row and row.endswith("| 0.65 | 0.83 | shortcut |")
    assert "pasted: flipped (95% bounds)" in new and "| stereotypy | status |" in new
    assert "No region" in audit_tab.summary(audited(candidates=[]))


def outside_code(markdown):
    return re.sub(r"`[^`]*`", "", markdown)


def test_the_help_names_the_models_classes_in_code_spans():
    help_text = audit_tab.info(["cat", "dog"])
    assert "`cat/*.png`, `dog/*.png`" in help_text
    assert "normal" not in help_text and "*" not in outside_code(help_text)
    many = audit_tab.info([f"c{k}" for k in range(6)])
    assert "`c3/*.png`, …" in many and "c4" not in many


def test_the_tab_shows_the_loaded_models_classes_and_keeps_maps_thumbnails():
    runner = audits.Audits(SimpleNamespace(classes=["cat", "dog"]))
    with gr.Blocks() as blocks:
        audit_tab.audit_tab(runner)
    components = list(blocks.blocks.values())
    texts = [c.value for c in components if isinstance(c, gr.Markdown)]
    assert any("`cat/*.png`, `dog/*.png`" in t for t in texts)
    means = next(c for c in components if c.elem_id == "audit-means")
    assert means.columns == 4 and means.fit_columns is False   # one map is not page wide
    with pytest.raises(BadInput, match="e.g. cat/"):
        runner.run(None)
