"""--overlays: every overlay lands inside OUT/overlays, whatever the paths a CSV gives
(absolute, or with ".."), so a source image is never overwritten; x.png and x.bmp in one folder
get an overlay each."""
import hashlib
import os

import numpy as np
from PIL import Image

from cams.dataset.run import explain_dataset, overlay_stem
from tests.models import two_class_cnn


def tiny(path):
    two_class_cnn().save(path)
    return path


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_overlays_stay_inside_out_and_never_overwrite_a_source(tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png", "x.png", "x.bmp"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(images / name)
    before = {n: digest(images / n) for n in os.listdir(images)}
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "list.csv").write_text(f"path\n{images / 'a.png'}\n../images/b.png\n"
                                    "../images/x.png\n../images/x.bmp\n")
    out = tmp_path / "out"
    counts = explain_dataset(tiny(str(tmp_path / "m.keras")), str(lists / "list.csv"),
                             str(out), progress=False, overlays=True, log=lambda line: None)
    assert counts["ok"] == 4
    assert {n: digest(images / n) for n in os.listdir(images)} == before   # sources untouched
    written = sorted(os.path.relpath(os.path.join(d, f), out / "overlays")
                     for d, _, files in os.walk(out) for f in files if f.endswith(".png"))
    assert written == sorted([str(images / "a.png").lstrip("/"), "_up/images/b.png",
                              "_up/images/x.png", "_up/images/x.bmp.png"])


def test_overlay_stem():
    assert overlay_stem("normal/x.png") == "normal/x"
    assert overlay_stem("/data/x.png") == "data/x"
    assert overlay_stem("../../x.jpg") == "_up/_up/x.jpg"
    assert overlay_stem("./a/./x.dcm") == "a/x.dcm"
