"""cams.io.dicom: files written from the phantoms and pydicom's own examples, read back and
windowed against the standard's formulas written out by hand; no patient identifier gets out."""
import io
import logging
import subprocess
import sys
import traceback
from pathlib import Path

import cv2
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.encaps import encapsulate  # noqa: E402
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array  # noqa: E402

from cams.io import dicom  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests.dicom_files import dataset, save, voi_lut  # noqa: E402

LUMA = np.array([0.299, 0.587, 0.114])


def linear_window(x, center, width):
    """PS3.3 C.11.2.1.2.1 for an output range 0..255, rounded: the oracle for a linear window."""
    x = np.asarray(x, np.float64)
    c, w = center - 0.5, width - 1
    y = ((x - c) / w + 0.5) * 255
    return np.rint(np.where(x <= c - w / 2, 0, np.where(x > c + w / 2, 255, y))).astype(np.uint8)


def sigmoid_window(x, center, width):
    """PS3.3 C.11.2.1.3.1 for an output range 0..255, rounded."""
    y = 255 / (1 + np.exp(-4 * (np.asarray(x, np.float64) - center) / width))
    return np.rint(y).astype(np.uint8)


def lut_display(x, first, lut, bits):
    """PS3.3 C.11.2.1.1: input `first` maps to lut[0], values outside clamp to the ends; the
    output range 0 .. 2**bits - 1 is scaled onto 0..255."""
    index = np.clip(np.rint(x) - first, 0, len(lut) - 1).astype(int)
    return np.rint(np.asarray(lut)[index] * 255 / (2 ** bits - 1)).astype(np.uint8)


def assert_one_sentence(message):
    assert "\n" not in message and ". " not in message, message


@pytest.fixture(scope="module")
def image():
    return dicom_files.phantom_image(seed=0, size=64)


def write_read(ds, tmp_path, name="x.dcm"):
    return dicom.read(save(ds, tmp_path / name))


def test_import_does_not_load_pydicom():
    code = "import sys, cams.io.dicom; assert 'pydicom' not in sys.modules, 'pydicom loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


def test_missing_pydicom_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now fails
    with pytest.raises(ImportError, match="pip install pydicom"):
        dicom.read(tmp_path / "x.dcm")


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_display_shows_dense_tissue_bright(tmp_path, image, photometric):
    # The same film as each photometric stores it: MONOCHROME1 shows its lowest value white.
    stored = image if photometric == "MONOCHROME2" else 255 - image
    read = write_read(dataset(stored, photometric=photometric), tmp_path)
    np.testing.assert_array_equal(read.values, stored)  # values keep the file's sense
    shown = read.windowed()
    assert shown.dtype == np.uint8 and shown.shape == image.shape
    assert np.corrcoef(shown.ravel(), image.ravel())[0, 1] > 0.99
    lungs_and_air = image < np.percentile(image, 20)
    bone_and_heart = image > np.percentile(image, 80)
    assert shown[lungs_and_air].mean() + 100 < shown[bone_and_heart].mean()
    assert any("MONOCHROME1" in n for n in read.info.notes) == (photometric == "MONOCHROME1")


def test_without_a_window_the_full_range_is_shown(tmp_path, image):
    read = write_read(dataset(image), tmp_path)
    lo, hi = float(image.min()), float(image.max())
    gray, label = read.windowed_with_label()
    np.testing.assert_array_equal(gray, np.rint((image - lo) / (hi - lo) * 255).astype(np.uint8))
    assert label == f"full range {lo:g} to {hi:g} (the file has no window)"
    assert read.value_range() == (lo, hi)
    assert read.info.window_center is None and not read.info.has_voi_lut


def test_rescale_slope_and_intercept_are_applied(tmp_path, image):
    stored = image.astype(np.uint16) * 16 + 7  # 12-bit values in 16-bit words
    ds = dataset(stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024)
    read = write_read(ds, tmp_path)
    assert read.values.dtype == np.float32 and not read.values.flags.writeable
    np.testing.assert_array_equal(read.values, 2.0 * stored - 1024)
    assert read.info.bits_stored == 12
    assert read.value_range() == (2.0 * stored.min() - 1024, 2.0 * stored.max() - 1024)


def test_modality_lut_sequence_is_applied(tmp_path, image):
    stored = image.astype(np.uint16) * 16
    table = (4095 - np.arange(4096)) // 2  # any non-linear-looking map will do; make it falling
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.ModalityLUTType = "US"
    item.add(pydicom.DataElement(0x00283006, "US", [int(v) for v in table]))
    read = write_read(dataset(stored, bits_stored=12, ModalityLUTSequence=[item]), tmp_path)
    np.testing.assert_array_equal(read.values, table[stored])


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("center, width", [(100, 20), (130.5, 61), (200, 2), (-50, 400)])
def test_explicit_window_follows_the_standard(tmp_path, image, photometric, center, width):
    read = write_read(dataset(image, photometric=photometric, WindowCenter=40,
                              WindowWidth=80), tmp_path)
    gray, label = read.windowed_with_label(center, width)
    expected = linear_window(read.values, center, width)
    if photometric == "MONOCHROME1":
        expected = 255 - expected
    np.testing.assert_array_equal(gray, expected)
    assert label == f"centre {center:g}, width {width:g}"


def test_file_window_is_the_default(tmp_path, image):
    stored = image.astype(np.uint16) * 16
    ds = dataset(stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024,
                 WindowCenter=[900, 40], WindowWidth=[1200, 400])
    read = write_read(ds, tmp_path)
    gray, label = read.windowed_with_label()
    np.testing.assert_array_equal(gray, linear_window(read.values, 900, 1200))
    assert label == "centre 900, width 1200 (from the file)"
    assert read.default_window() == (900, 1200)
    assert (read.info.window_center, read.info.window_width) == (900, 1200)
    assert "the file offers 2 windows; the first is used" in read.info.notes
    # One slider moved: the other keeps the file's value.
    np.testing.assert_array_equal(read.windowed(center=500),
                                  linear_window(read.values, 500, 1200))


def test_file_sigmoid_window(tmp_path, image):
    read = write_read(dataset(image, WindowCenter=120, WindowWidth=60, VOILUTFunction="SIGMOID"),
                      tmp_path)
    gray, label = read.windowed_with_label()
    np.testing.assert_array_equal(gray, sigmoid_window(read.values, 120, 60))
    assert label == "centre 120, width 60, sigmoid (from the file)"


def test_invalid_file_window_falls_back_to_the_full_range(tmp_path, image):
    read = write_read(dataset(image, WindowCenter=120, WindowWidth=0), tmp_path)
    assert read.info.window_center is None
    assert read.windowed_with_label()[1].startswith("full range")
    assert any("window is invalid" in n for n in read.info.notes)


def test_voi_lut_is_used_when_present(tmp_path, image):
    stored = image.astype(np.uint16) * 16
    first, lut = 1000, np.rint(4095 * np.sqrt(np.arange(1024) / 1023)).astype(int)
    ds = dataset(stored, bits_stored=12, WindowCenter=2000, WindowWidth=4000)
    windowed = write_read(ds, tmp_path, "window.dcm")
    with_lut = write_read(voi_lut(ds, first, lut, 12), tmp_path, "lut.dcm")
    gray, label = with_lut.windowed_with_label()
    np.testing.assert_array_equal(gray, lut_display(with_lut.values, first, lut, 12))
    assert label == "VOI LUT from the file" and with_lut.info.has_voi_lut
    assert with_lut.default_window() == (first + 1024 / 2, 1024)
    # Without the LUT the same file shows its window, which looks different.
    np.testing.assert_array_equal(windowed.windowed(), linear_window(windowed.values, 2000, 4000))
    assert np.abs(gray.astype(int) - windowed.windowed()).mean() > 20
    # The stored display is not handed out to be changed.
    gray[:] = 0
    assert with_lut.windowed().any()


def test_voi_lut_of_a_monochrome1_file_is_inverted(tmp_path, image):
    lut = np.arange(256)
    read = write_read(voi_lut(dataset(255 - image, photometric="MONOCHROME1"), 0, lut, 8),
                      tmp_path)
    np.testing.assert_array_equal(read.windowed(), image)


def test_multi_frame_gives_frame_one_and_says_so(tmp_path):
    frames = np.stack([dicom_files.phantom_image(seed) for seed in (1, 2, 3)])
    read = write_read(dataset(frames), tmp_path)
    np.testing.assert_array_equal(read.values, frames[0])
    assert read.info.frames == 3
    assert "multi-frame file: showing frame 1 of 3" in read.info.notes


def test_window_arguments_are_checked(tmp_path, image):
    read = write_read(dataset(image), tmp_path)
    with pytest.raises(ValueError, match="width must be at least 1"):
        read.windowed(100, 0.5)
    with pytest.raises(ValueError, match="center must be a number"):
        read.windowed("middle", 10)
    with pytest.raises(ValueError, match="width must be finite"):
        read.windowed(100, float("inf"))


def test_paths_and_file_likes_read_alike(tmp_path, image):
    path = save(dataset(image), tmp_path / "x.dcm")
    stream = io.BytesIO(path.read_bytes())
    assert dicom.is_dicom(path) and dicom.is_dicom(str(path)) and dicom.is_dicom(stream)
    assert stream.tell() == 0
    np.testing.assert_array_equal(dicom.read(stream).values, dicom.read(path).values)


@pytest.mark.parametrize("kind, says", [("png", "no 'DICM' marker"),
                                        ("random bytes", "no 'DICM' marker"),
                                        ("empty", "the file is empty")])
def test_not_a_dicom_file(tmp_path, image, kind, says):
    data = {"png": cv2.imencode(".png", image)[1].tobytes(),
            "random bytes": np.random.default_rng(0).bytes(4096),
            "empty": b""}[kind]
    path = tmp_path / "upload.dcm"
    path.write_bytes(data)
    assert not dicom.is_dicom(path)
    with pytest.raises(ValueError, match=says) as err:
        dicom.read(path)
    assert "accepted: a DICOM Part 10 file" in str(err.value)
    assert_one_sentence(str(err.value))


def test_a_file_without_an_image(tmp_path, image):
    ds = dataset(image)
    del ds.PixelData
    with pytest.raises(ValueError, match="holds no image"):
        write_read(ds, tmp_path)
    with pytest.raises(ValueError, match="holds no image"):
        dicom.read(get_testdata_file("rtplan.dcm"))


def test_a_3d_volume_is_refused():
    with pytest.raises(ValueError, match="3-D volume of 15 slices") as err:
        dicom.read(get_testdata_file("rtdose.dcm"))
    assert_one_sentence(str(err.value))


def test_a_transfer_syntax_without_decoder_is_named(tmp_path, image):
    ds = dataset(image)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = encapsulate([b"\0\0\1\xb3" + bytes(64)])
    with pytest.raises(ValueError) as err:
        write_read(ds, tmp_path)
    message = str(err.value)
    assert message.startswith("cannot decode pixel data compressed with "
                              "MPEG2 Main Profile / Main Level: pydicom has no decoder for it")
    assert "reads uncompressed files" in message and "pip install pylibjpeg" in message
    assert_one_sentence(message)


# --- pydicom's own example files -------------------------------------------------------------

def test_pydicom_ct_signed_with_rescale():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PixelRepresentation == 1
    read = dicom.read(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(read.values, expected.astype(np.float32))
    assert read.values.min() < 0
    assert (read.info.modality, read.info.transfer_syntax) == ("CT", "Explicit VR Little Endian")


def test_pydicom_mr_window_from_the_file():
    path = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    read = dicom.read(path)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    gray, label = read.windowed_with_label()
    np.testing.assert_array_equal(gray, linear_window(read.values, center, width))
    assert label == f"centre {center:g}, width {width:g} (from the file)"


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm"])
def test_pydicom_mr_encodings_read_alike(name):
    reference = dicom.read(get_testdata_file("MR_small.dcm")).values
    try:
        read = dicom.read(get_testdata_file(name))
    except ValueError as err:  # only a compressed copy may lack a decoder
        assert "JPEG 2000" in str(err) and name.endswith("jp2klossless.dcm")
        return
    np.testing.assert_array_equal(read.values, reference)


def test_pydicom_rgb_becomes_gray_by_luma():
    path = get_testdata_file("examples_rgb_color.dcm")
    read = dicom.read(path)
    expected = pydicom.dcmread(path).pixel_array @ LUMA
    np.testing.assert_allclose(read.values, expected, atol=1e-3)
    assert read.values.shape == (240, 320)
    assert any(n.startswith("RGB colour file: converted to gray") for n in read.info.notes)
    assert read.windowed().shape == (240, 320)


def test_pydicom_palette_becomes_gray():
    path = get_testdata_file("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    read = dicom.read(path)
    np.testing.assert_allclose(read.values, apply_color_lut(ds.pixel_array, ds) @ LUMA,
                               rtol=1e-6)


def test_pydicom_multi_frame_colour():
    path = get_testdata_file("examples_ybr_color.dcm")  # 30 frames, JPEG Baseline, YBR_FULL_422
    try:
        read = dicom.read(path)
    except ValueError as err:
        assert "JPEG Baseline (Process 1)" in str(err)
        return
    assert read.info.frames == 30 and read.values.shape == (240, 320)
    assert read.info.notes[0] == "multi-frame file: showing frame 1 of 30"
    np.testing.assert_allclose(read.values, pixel_array(path, index=0) @ LUMA, atol=1e-3)


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm",
                                  "SC_rgb_jpeg_gdcm.dcm", "examples_jpeg2k.dcm",
                                  "SC_rgb_jpeg.dcm"])
def test_pydicom_compressed_decodes_or_names_its_transfer_syntax(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        read = dicom.read(path)
    except ValueError as err:
        message = str(err)
        reason = ("could not read this file" if get_decoder(syntax).is_available
                  else "no decoder for it is installed")
        assert message.startswith(f"cannot decode pixel data compressed with {syntax.name}: ")
        assert reason in message
        assert "reads uncompressed files" in message
        assert_one_sentence(message)
        return
    assert read.values.shape == (ds.Rows, ds.Columns) and read.values.std() > 0


# --- privacy ---------------------------------------------------------------------------------

def broken_variants(ds):
    """(what is broken, file bytes) for copies of `ds` that read must refuse."""
    def encoded(change):
        copy = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
        change(copy)
        return to_bytes(copy)

    def no_pixels(d):
        del d.PixelData

    def short_pixels(d):
        d.PixelData = d.PixelData[:-100]

    def undecodable(d):
        d.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
        d.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(32)])

    def failing_decoder(d):
        d.file_meta.TransferSyntaxUID = pydicom.uid.JPEG2000Lossless
        d.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(32)])

    def volume(d):
        d.PixelData = d.PixelData * 3
        d.NumberOfFrames = 3
        d.FrameIncrementPointer = 0x3004000C
        d.GridFrameOffsetVector = [0, 5, 10]

    def unknown_photometric(d):
        d.PhotometricInterpretation = "HSV"

    whole = to_bytes(ds)
    yield "cut in half", whole[:len(whole) // 2]
    yield "marker only", whole[:200]
    for change in (no_pixels, short_pixels, undecodable, failing_decoder, volume,
                   unknown_photometric):
        yield change.__name__, encoded(change)


def to_bytes(ds):
    stream = io.BytesIO()
    save(ds, stream)
    return stream.getvalue()


def test_no_patient_identifier_gets_out(tmp_path, image, caplog, capsys, recwarn):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pydicom")
    ds = dicom_files.identified(dataset(image, WindowCenter=120, WindowWidth=200))
    # PACS exports are often named after the patient: the name must not get out either.
    named = dicom_files.IDENTIFIERS["PatientID"]
    path = save(ds, tmp_path / f"{named}.dcm")
    assert dicom_files.IDENTIFIERS["PatientName"].encode() in path.read_bytes()  # it is there

    read = dicom.read(path)
    seen = [repr(read), repr(read.info), str(read.info), read.windowed_with_label()[1],
            read.windowed_with_label(100, 50)[1]]
    assert not any(isinstance(v, pydicom.Dataset) for v in vars(read).values())
    refused = []
    for broken, data in broken_variants(ds):
        broken_path = tmp_path / f"{named}-{broken}.dcm"
        broken_path.write_bytes(data)
        for source in (broken_path, io.BytesIO(data)):
            with pytest.raises(ValueError) as err:
                dicom.read(source)
            # pydicom's own text, which may quote the file, is neither kept nor shown.
            error = err.value
            assert error.__cause__ is None
            assert error.__context__ is None or error.__suppress_context__
            seen.append("".join(traceback.format_exception(err.value)))
        refused.append(broken)
    assert len(refused) == 8
    out, errors = capsys.readouterr()
    seen += [caplog.text, out, errors] + [str(w.message) for w in recwarn]
    text = "\n".join(seen)
    for keyword, value in dicom_files.IDENTIFIERS.items():
        assert value not in text, f"{keyword} leaked"


def test_pydicom_warnings_that_quote_a_value_are_not_passed_on(tmp_path, image, caplog,
                                                                capsys):
    """pydicom warns and logs "Invalid value for VR IS: '<the value>'" on a bad Number of
    Frames: with a name written there, that text must not get out of a read."""
    import struct
    import warnings

    caplog.set_level(logging.DEBUG, logger="pydicom")
    ds = dataset(image)
    ds.NumberOfFrames = "1"
    data = to_bytes(ds)
    at = data.find(b"\x28\x00\x08\x00IS")                  # (0028,0008) IS, explicit VR LE
    length = struct.unpack("<H", data[at + 6:at + 8])[0]
    name = dicom_files.IDENTIFIERS["PatientName"].encode()
    path = tmp_path / "x.dcm"
    path.write_bytes(data[:at + 6] + struct.pack("<H", len(name)) + name
                     + data[at + 8 + length:])
    # pydicom's default, whatever an earlier test left: the demo's uploads turn its validation
    # off for the whole process (cams.app.uploads), and a worker may have run those first
    mode = pydicom.config.settings.reading_validation_mode
    pydicom.config.settings.reading_validation_mode = pydicom.config.WARN
    try:
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="Number of Frames is not a whole number"):
                dicom.read(path)
        out, err = capsys.readouterr()
        text = "\n".join([out, err, caplog.text] + [str(w.message) for w in shown])
        assert name.decode() not in text
        with warnings.catch_warnings(record=True) as after:   # pydicom's own reads still warn
            warnings.simplefilter("always")
            with pytest.raises(ValueError):
                int(pydicom.dcmread(path).NumberOfFrames)
        assert any(name.decode() in str(w.message) for w in after)
    finally:
        pydicom.config.settings.reading_validation_mode = mode
