"""DICOM uploads in the app: shown through the file's window or one the person picks, with what
the page may say about the file, and nothing that identifies a patient anywhere it could leak."""
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cams.io import dicom
from cams.app.uploads import BadInput
from tests import dicom_files
from tests.cams.app.files import dicom_radiograph, identifiers


def _rgb(gray):
    return np.repeat(gray[..., None], 3, axis=-1)


def test_a_dicom_upload_is_shown_through_its_own_window(calls, tmp_path):
    path = dicom_radiograph(tmp_path)
    image, facts, center, width = calls["preview"](path)
    read = dicom.read(path)
    np.testing.assert_array_equal(image, _rgb(read.windowed()))
    assert facts.startswith("**DICOM** · modality DX · 256x256 · 12-bit MONOCHROME2")
    assert "window: centre 2000, width 3000 (from the file)" in facts
    lo, hi = read.value_range()
    assert lo < 500 and hi > 3000  # a phantom spans the range
    assert (center.visible, center.value, center.minimum, center.maximum) == (True, 2000, lo, hi)
    assert (width.visible, width.value, width.minimum, width.maximum) == (
        True, 3000, 1, hi - lo + 1)
    assert center.step == width.step == 1


def test_an_image_upload_has_no_window(calls, app):
    image, facts, center, width = calls["preview"](app.examples[0])
    assert image.shape == (224, 224, 3) and facts == "**PNG** · 224x224"
    assert not center.visible and not width.visible
    image, facts, *_ = calls["preview"](None)  # the file removed: what may be uploaded again
    assert image is None and "Accepted: PNG, JPEG, TIFF, BMP or GIF" in facts and "DICOM" in facts


def test_moving_the_window_redraws_the_image_and_the_explanation(calls, tmp_path):
    path = dicom_radiograph(tmp_path)
    read = dicom.read(path)
    _, (own, own_overlay), _, own_files, _ = calls["explain"](path)
    _, (narrow, narrow_overlay), _, files, _ = calls["explain"](path, window_center=1200,
                                                                window_width=800)
    np.testing.assert_array_equal(own, _rgb(read.windowed()))
    np.testing.assert_array_equal(narrow, _rgb(read.windowed(1200, 800)))
    assert np.abs(narrow.astype(int) - own).mean() > 10
    assert np.abs(narrow_overlay.astype(int) - own_overlay).mean() > 10
    record = json.load(open(files[2]))["dicom"]
    assert record["window"] == "centre 1200, width 800"
    assert (record["window_center"], record["window_width"]) == (1200, 800)
    assert json.load(open(own_files[2]))["dicom"]["window"] == (
        "centre 2000, width 3000 (from the file)")
    facts = calls["preview"](path, 1200, 800)[1]
    assert "window: centre 1200, width 800" in facts and "from the file" not in facts
    # the sliders' values back at the file's window give the file's own display again
    np.testing.assert_array_equal(calls["preview"](path, 2000.4, 2999.6)[0], own)


@pytest.mark.parametrize("center, width, message", [
    (99999, 400, "window centre must be between"), (2000, 0.5, "window width must be between"),
    ("wide", 400, "must be a number"),
])
def test_a_window_outside_the_files_range_is_refused(calls, tmp_path, center, width, message):
    with pytest.raises(BadInput, match=message) as raised:
        calls["explain"](dicom_radiograph(tmp_path), window_center=center, window_width=width)
    if "between" in message:
        assert "its values run from" in str(raised.value)


def test_the_page_states_the_readers_notes(calls, tmp_path):
    frames = np.stack([dicom_files.phantom_image(seed, 64) for seed in range(3)])
    multi = dicom_files.save(dicom_files.dataset(frames), tmp_path / "multi.dcm")
    facts = calls["preview"](str(multi))[1]
    assert "\n- multi-frame file: showing frame 1 of 3" in facts
    inverted = dicom_files.save(dicom_files.dataset(255 - frames[0], photometric="MONOCHROME1"),
                                tmp_path / "m1.dcm")
    assert "MONOCHROME1 file: the display is inverted" in calls["preview"](str(inverted))[1]
    lut = dicom_files.voi_lut(dicom_files.dataset(frames[0]), 0, list(range(0, 256)), 8)
    path = dicom_files.save(lut, tmp_path / "lut.dcm")
    assert "window: VOI LUT from the file" in calls["preview"](str(path))[1]


def _everything_said(outputs):
    """Every string and every file's bytes in an endpoint's outputs (nested), decoded loosely."""
    said = []

    def walk(value):
        if isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            walk(list(value.keys()) + list(value.values()))
        elif isinstance(value, str):
            said.append(value)
            if value.startswith("/") and value.rsplit(".", 1)[-1] in ("png", "npy", "json"):
                said.append(Path(value).read_bytes().decode("latin-1"))
        elif isinstance(value, np.ndarray):
            said.append(value.tobytes().decode("latin-1"))
        elif hasattr(value, "axes"):  # a matplotlib figure: its texts
            said.extend(t.get_text() for ax in value.axes for t in ax.findobj(
                lambda o: hasattr(o, "get_text")))
        elif hasattr(value, "get_config"):  # a gr.Slider update
            said.append(json.dumps(value.get_config(), default=str))
        else:
            said.append(str(value))
    walk(outputs)
    return said


def _with_a_name_where_a_code_belongs(element, value="Quixwell^Zorbina"):
    """The bytes of an identified DICOM whose `element` (the file meta's when it starts with
    "TransferSyntax") holds a patient's name: a value pydicom warns and logs about as it reads
    it, since it does not fit the element's VR."""
    from pydicom import config

    ds = dicom_files.identified(dicom_files.dataset(dicom_files.phantom_image(0, 64)))
    setattr(ds.file_meta if element.startswith("TransferSyntax") else ds, element, value)
    stream, mode = io.BytesIO(), config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE  # writing would warn too
    try:
        ds.save_as(stream, enforce_file_format=True)
    finally:
        config.settings.writing_validation_mode = mode
    return stream.getvalue()


def _leaks(said):
    text = "\n".join(said)
    return [value for value in identifiers() if value in text]


def test_no_patient_identifier_reaches_the_page_the_files_or_the_log(calls, tmp_path, caplog,
                                                                      capsys, recwarn):
    """A DICOM export with every identifier set, named after its patient, through every
    endpoint; and one whose Modality holds the patient's name."""
    caplog.set_level(logging.DEBUG)
    named = dicom_radiograph(tmp_path, name="Quixwell_Zorbina_PID-730615-QZ.dcm")
    data = Path(named).read_bytes()
    assert dicom_files.IDENTIFIERS["PatientName"].encode() in data  # they are in the file
    said = []
    for source in (named, data):  # a path (the API's) or the bytes (the page's)
        said += _everything_said(calls["preview"](source))
        said += _everything_said(calls["preview"](source, 1500, 900))
        said += _everything_said(calls["explain"](source))
        said += _everything_said(calls["explain"](source, window_center=1500, window_width=900))
        said += _everything_said(calls["compare"](source))
        said += _everything_said(calls["sweep"](source, ["mobilenetv2_0.35_224/Conv1"]))
    said += _everything_said(calls["trust"](named))
    # A name where the modality belongs: free text, and one written as a valid code string.
    for value in ("Quixwell^Zorbina", "QUIXWELL ZORBINA"):
        odd = _with_a_name_where_a_code_belongs("Modality", value)
        facts = calls["preview"](odd)[1]
        assert "modality not stated" in facts and "not a DICOM modality code" in facts
        said += _everything_said(calls["explain"](odd)) + [facts]
    out, err = capsys.readouterr()
    said += [caplog.text, out, err] + [str(w.message) for w in recwarn]
    text = "\n".join(said)
    assert "DICOM" in text and "modality DX" in text and "narrow" not in text  # searched
    assert not _leaks(said) and "QUIXWELL" not in text


def test_an_unreadable_transfer_syntax_is_not_quoted(calls):
    with pytest.raises(BadInput) as raised:
        calls["explain"](_with_a_name_where_a_code_belongs("TransferSyntaxUID"))
    assert not _leaks([str(raised.value)])


def test_downloads_hold_what_was_shown(app, calls, tmp_path):
    import cams

    path = dicom_radiograph(tmp_path)
    probs, (original, overlay), _, files, _ = calls["explain"](path, "graph", "gradcam++",
                                                              target="opacity", alpha=0.5,
                                                              colormap="turbo")
    png, npy, record = files
    assert png.endswith("/overlay-gradcampp-opacity.png")
    np.testing.assert_array_equal(np.asarray(Image.open(png)), overlay)
    assert not Image.open(png).info  # no text chunks or other metadata
    heat = np.load(npy)
    x = app.card.preprocess(np.asarray(Image.fromarray(original).resize((224, 224),
                                                                        Image.BILINEAR),
                                       np.float32)[None])
    direct = cams.explain(app.model, x, layer=app.default_layer, class_index=1,
                          method="gradcam++", backend="graph")
    assert heat.dtype == np.float32 and heat.shape == (14, 14)
    np.testing.assert_allclose(heat, direct.heatmaps[0], atol=1e-6)
    record = json.load(open(record))
    assert {k: record[k] for k in ("method", "backend", "layer", "class_name", "class_index",
                                   "display")} == {
        "method": "gradcam++", "backend": "graph", "layer": app.default_layer,
        "class_name": "opacity", "class_index": 1, "display": {"alpha": 0.5, "colormap": "turbo"}}
    assert record["probabilities"] == probs
    assert record["options"] == direct.options
    assert set(record["versions"]) == {"cams", "tensorflow", "keras"}
    assert record["dicom"]["modality"] == "DX"
    assert record["dicom"]["window"] == "centre 2000, width 3000 (from the file)"
    assert record["heatmap"]["shape"] == [14, 14]
