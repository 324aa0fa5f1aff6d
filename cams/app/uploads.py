"""What a person may upload, an image file or a DICOM file, read into the RGB image the page
shows and the model is given, or refused with a message that says what was wrong and what is
accepted.

An upload is read at display size: its long side at most DISPLAY_MAX pixels, so a 40-megapixel
file costs its decoded size once and then a 2048-pixel copy, not full-size RGB copies. A DICOM
file is shown through a window (the file's own unless a centre and width are given), and only
the facts in `DicomFacts` leave this module: never a patient's, a study's or a site's name, id
or date.
"""
import functools
import io
import math
import os
from dataclasses import dataclass

from PIL import Image

from cams.io import dicom, images

MAX_PIXELS = 40_000_000     # larger uploads are refused before decoding
MIN_SIDE = 16
DISPLAY_MAX = 2048          # long side of the image shown and explained
MAX_FILE_SIZE = "25mb"
IMAGES = "PNG, JPEG, TIFF, BMP or GIF (grayscale, RGB, RGBA or 16-bit)"
ACCEPTED = f"{IMAGES}, or DICOM (.dcm: one 2-D image, or the first frame of a series)"

# The Modality codes DICOM defines (PS3.3 C.7.3.1.1.1, retired ones included). A value is shown
# only if it is one of them: "SMITH JOHN" is a valid code string (VR CS) too.
MODALITIES = frozenset("""
    AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EPS ES FID GM HC HD IO IOL IVOCT IVUS
    KER KO LEN LS M3D MG MR NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN POS PR PT PX REG
    RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR SR
    SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL XC
    AS CD CF CP CS DD DF DM DS EC FA FS LP MA MS OPR ST VF""".split())

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # PIL refuses decompression bombs beyond this


class BadInput(ValueError):
    """An upload or a choice the app cannot use; its message is shown to the person."""


@dataclass(frozen=True)
class DicomFacts:
    """What the page may say about a DICOM upload: how its image is stored and shown, nothing
    about whom it shows. Window values are in the file's units (after its modality LUT)."""
    modality: str | None
    rows: int
    columns: int
    bits_stored: int
    photometric: str
    window: str                   # the window applied, e.g. "centre 40, width 400 (from the file)"
    center: float                 # the window applied (the file's default when it used its own)
    width: float
    default: tuple                # (centre, width) the file asks for
    center_range: tuple           # (min, max) a centre may take: the values' range
    width_range: tuple            # (1, max) a width may take
    step: float                   # a slider step suited to the values' range
    notes: tuple = ()             # multi-frame, colour dropped, display inverted, ...


@dataclass(frozen=True)
class Upload:
    """An upload as shown and explained: RGB, long side at most DISPLAY_MAX."""
    image: Image.Image            # PIL RGB
    width: int                    # the file's own size
    height: int
    kind: str                     # "DICOM", or PIL's format name ("PNG", "JPEG", ...)
    dicom: DicomFacts | None = None

    @property
    def shrunk(self):
        """True when the image was made smaller for display and explanation."""
        return self.image.size != (self.width, self.height)


def read_upload(source, center=None, width=None):
    """The upload `source` (a path or the file's bytes) as an `Upload`, or BadInput saying what
    is wrong and what is accepted. center, width: a DICOM window in the file's units (None: the
    file's own); ignored for other images."""
    source = _opened(source)
    if dicom.is_dicom(source):
        return _read_dicom(source, center, width)
    return _read_image(source)


def _opened(source):
    """A path or the bytes of an upload as a readable path or file-like; BadInput when there is
    nothing to read."""
    if source is None:
        raise BadInput(f"Upload an image first: {ACCEPTED}.")
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise BadInput(f"The uploaded file is empty. Upload {ACCEPTED}.")
        return io.BytesIO(source)
    if not os.path.isfile(source):
        raise BadInput(f"The upload did not arrive. Upload the file again: {ACCEPTED}.")
    if os.path.getsize(source) == 0:
        raise BadInput(f"The uploaded file is empty. Upload {ACCEPTED}.")
    return source


def _check_size(width, height):
    if width * height > MAX_PIXELS:
        raise BadInput(f"The image is {width}x{height}: too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.")
    if min(width, height) < MIN_SIDE:
        raise BadInput(f"The image is {width}x{height}: too small to explain. Upload one of at "
                       f"least {MIN_SIDE}x{MIN_SIDE} pixels.")


def _read_image(source):
    """An image file as an Upload (display size), through cams.io.images' one reader."""
    try:
        with Image.open(source) as probe:
            (width, height), kind = probe.size, probe.format or "image"
    except Image.DecompressionBombError:
        raise BadInput(f"The image is too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:
        raise BadInput(f"This file is not an image this app can read. Upload {ACCEPTED}.") from None
    _check_size(width, height)
    try:
        if max(width, height) > DISPLAY_MAX:
            source = _display_copy(source)
        rgb = images.read_rgb(source)
    except Exception:
        raise BadInput(f"The image file is corrupt or truncated. Upload a complete file: "
                       f"{ACCEPTED}.") from None
    return Upload(rgb, width, height, kind)


def _display_copy(source):
    """A large image shrunk (in its own mode, 16-bit included) so its long side is DISPLAY_MAX,
    as an in-memory PNG that cams.io.images.read_rgb reads like any upload. The decoded full-size
    image is the only full-size copy made."""
    if hasattr(source, "seek"):
        source.seek(0)
    with Image.open(source) as img:
        img.thumbnail((DISPLAY_MAX, DISPLAY_MAX))  # JPEG: decoded at a reduced scale
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "I;16B", "I;16L"):
            img = img.convert("RGB")  # CMYK, float: what read_rgb would do at full size
        buffer = io.BytesIO()
        img.save(buffer, "PNG", compress_level=0)
    buffer.seek(0)
    return buffer


def _read_dicom(source, center, width):
    """A DICOM file as an Upload shown through a window; BadInput with cams.io.dicom's reason
    (which never quotes the file) when it cannot be read."""
    try:
        _quiet_pydicom()
        image = dicom.read(source)
    except ImportError:
        raise BadInput(f"This server cannot read DICOM files (pydicom is not installed). Upload "
                       f"{IMAGES}.") from None
    except ValueError as err:
        raise BadInput(f"This DICOM file cannot be used: {err}. The app also reads "
                       f"{IMAGES}.") from None
    info = image.info
    _check_size(info.columns, info.rows)
    limits = _window_limits(image)
    gray, label, applied = _windowed(image, limits, center, width)
    modality, notes = info.modality, info.notes
    if modality is not None and modality.strip() not in MODALITIES:  # it could be anything
        modality, notes = None, notes + ("the file's Modality is not a DICOM modality code, so "
                                         "it is not shown",)
    elif modality is not None:
        modality = modality.strip()
    facts = DicomFacts(modality, info.rows, info.columns, info.bits_stored, info.photometric,
                       label, *applied, limits["default"], limits["center_range"],
                       limits["width_range"], limits["step"], notes)
    shown = Image.fromarray(gray, "L")
    shown.thumbnail((DISPLAY_MAX, DISPLAY_MAX))
    return Upload(shown.convert("RGB"), info.columns, info.rows, "DICOM", facts)


@functools.cache
def _quiet_pydicom():
    """Keep pydicom from quoting a file: it warns and logs an element's value when the value
    does not fit its VR (a malformed birth date, a name too long), so value validation is off
    and its logger silent in this process, the app's. Done once, before the first DICOM read."""
    import logging

    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    logger = logging.getLogger("pydicom")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


def _window_limits(image):
    """{default, center_range, width_range, step} for window sliders: the centre within the
    values' range, the width from 1 to the range's span (both stretched to hold the file's own
    window, should it lie outside)."""
    lo, hi = image.value_range()
    c0, w0 = (float(v) for v in image.default_window())
    span = hi - lo
    step = 1.0 if span >= 100 else 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 1.0
    return {"default": (c0, w0), "center_range": (min(lo, c0), max(hi, c0)),
            "width_range": (1.0, max(span + 1, w0, 1.0)), "step": step}


def _windowed(image, limits, center, width):
    """(uint8 (H, W), label, (centre, width) applied): the file's own display where no window is
    given or the given one is the file's (to half a slider step), else the linear window."""
    c0, w0 = limits["default"]
    center = c0 if center is None else _number("centre", center)
    width = w0 if width is None else _number("width", width)
    if abs(center - c0) <= limits["step"] / 2 and abs(width - w0) <= limits["step"] / 2:
        gray, label = image.windowed_with_label()
        return gray, label, (c0, w0)
    for name, value, (low, high) in (("centre", center, limits["center_range"]),
                                     ("width", width, limits["width_range"])):
        if not low <= value <= high:
            raise BadInput(f"The window {name} must be between {low:g} and {high:g} for this "
                           f"file (its values run from {limits['center_range'][0]:g} to "
                           f"{limits['center_range'][1]:g}); got {value:g}.")
    gray, label = image.windowed_with_label(center, width)
    return gray, label, (center, width)


def _number(name, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"The window {name} must be a number; got {value!r}.") from None
    if not math.isfinite(number):
        raise BadInput(f"The window {name} must be a finite number; got {value!r}.")
    return number
