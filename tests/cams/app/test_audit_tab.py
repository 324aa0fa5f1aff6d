"""The Audit tab: zips unpacked safely and within bounds, the shipped examples' audit shown when
the page opens, an uploaded zip audited with its masks, and errors a person can act on."""
import io
import os
import zipfile

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
