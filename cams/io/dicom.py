"""Read a radiograph from a DICOM file: its values in the file's own units, the display image
the file asks for (or a window the user picks), and a few facts about the file that identify
nobody.

    from cams.io import dicom
    image = dicom.read("chest.dcm")             # a path or a binary file-like
    image.values                                # float32 (H, W), after the modality LUT
    gray, label = image.windowed_with_label()   # uint8 (H, W), e.g. "VOI LUT from the file"
    image.windowed(center=40, width=400)        # uint8 (H, W), the DICOM linear window

Decisions a caller should know:
- `values` keep the file's sense. A MONOCHROME1 file (low values shown white) is inverted in
  the display only, so that the file's window and VOI LUT, which are defined on its values,
  still apply; every display this module returns shows dense tissue bright.
- Colour files (RGB, YBR_*, PALETTE COLOR) become gray by luma, since radiograph models take
  gray images; a note says so.
- A multi-frame file gives its first frame; a 3-D volume (frames that are slices at different
  positions) is refused.

pydicom is optional and imported on the first read. Privacy: the objects returned hold pixel
values and the fields of `DicomInfo` only, never the dataset; no message of this module quotes
the file's elements or its name, and pydicom's own error text (which may) is not passed on.
"""
import contextlib
import dataclasses
import logging
import math
import os
import threading
import warnings

import numpy as np

# ITU-R BT.601 weights: the Y of DICOM's YBR_FULL, so gray matches what a viewer calls luma.
_LUMA = np.array([0.299, 0.587, 0.114])
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_ACCEPTED = "accepted: a DICOM Part 10 file holding one 2-D image or a series of 2-D frames"
# Frame Increment Pointer targets that make the frames slices of a volume:
# Grid Frame Offset Vector (RT dose) and Slice Location.
_SLICE_POINTERS = (0x3004000C, 0x00201041)
_MORE_DECODERS = ("pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm, "
                  "to read more")


@dataclasses.dataclass(frozen=True)
class DicomInfo:
    """What a page may show about a file: how its image is stored, never whom it shows.

    window_center, window_width: the file's first window (float), or None when it has none or an
    invalid one; voi_function: how that window maps, "LINEAR", "LINEAR_EXACT" or "SIGMOID";
    has_voi_lut: whether the file carries a VOI LUT Sequence; notes: one sentence for each thing
    done to the image on the way (frame chosen, colour dropped, display inverted).
    """
    modality: str | None
    rows: int
    columns: int
    bits_stored: int
    photometric: str
    frames: int
    transfer_syntax: str
    window_center: float | None
    window_width: float | None
    voi_function: str
    has_voi_lut: bool
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class DicomImage:
    """One image read from a DICOM file.

    values: float32 (H, W), read-only, the stored pixels after the modality LUT (rescale slope
    and intercept, or the Modality LUT Sequence), in the file's sense (see the module notes);
    info: a `DicomInfo`.
    """
    values: np.ndarray
    info: DicomInfo
    # The file's VOI LUT applied at read time (uint8 (H, W), before any MONOCHROME1 inversion)
    # and the input (center, width) it covers; the LUT needs the dataset, which is not kept.
    _lut_display: np.ndarray | None = None
    _lut_window: tuple[float, float] | None = None

    def __repr__(self):
        return f"DicomImage(values=float32{self.values.shape}, info={self.info!r})"

    def value_range(self):
        """(min, max) of `values` as floats: the limits for a window slider."""
        return float(self.values.min()), float(self.values.max())

    def default_window(self):
        """(center, width) floats for window sliders to start at: the file's window, else the
        input range its VOI LUT covers, else the full value range."""
        if self._lut_window is not None:
            return self._lut_window
        if self.info.window_center is not None:
            return self.info.window_center, self.info.window_width
        lo, hi = self.value_range()
        # With the linear function this window maps lo to 0 and hi to 255 exactly.
        return (lo + hi + 1) / 2, hi - lo + 1

    def windowed(self, center=None, width=None):
        """The display image, uint8 (H, W), dense tissue bright; see `windowed_with_label`."""
        return self.windowed_with_label(center, width)[0]

    def windowed_with_label(self, center=None, width=None):
        """(uint8 (H, W) display image, one line naming the window applied).

        With neither argument: the file's VOI LUT if present, else its window, else the full
        value range. Otherwise the DICOM linear window (PS3.3 C.11.2.1.2.1) with `center` and
        `width` in the units of `values`; a missing one is taken from `default_window()`.
        MONOCHROME1 displays are inverted so that dense tissue is bright.
        """
        if center is None and width is None:
            gray, label = self._file_display()
        else:
            default_center, default_width = self.default_window()
            center = _check_number("center", default_center if center is None else center)
            width = _check_number("width", default_width if width is None else width)
            if width < 1:
                raise ValueError(f"width must be at least 1 (the DICOM linear window needs it); "
                                 f"got {width:g}")
            gray, label = _window(self.values, center, width), f"centre {center:g}, width {width:g}"
        if self.info.photometric == "MONOCHROME1":
            gray = 255 - gray  # MONOCHROME1 shows its lowest value white
        return gray, label

    def _file_display(self):
        """(uint8 (H, W) before inversion, label) for the window the file asks for."""
        if self._lut_display is not None:
            return self._lut_display.copy(), "VOI LUT from the file"
        info = self.info
        if info.window_center is not None:
            c, w, function = info.window_center, info.window_width, info.voi_function
            how = "" if function == "LINEAR" else f", {function.lower().replace('_', ' ')}"
            return (_window(self.values, c, w, function),
                    f"centre {c:g}, width {w:g}{how} (from the file)")
        lo, hi = self.value_range()
        return (_window(self.values, *self.default_window()),
                f"full range {lo:g} to {hi:g} (the file has no window)")


def is_dicom(source):
    """True if `source` (a path or a binary file-like, left at its position) starts like a DICOM
    Part 10 file: the 'DICM' marker at byte 128. That marker is what pydicom requires when it
    reads without force, so every file `read` can open passes."""
    return _head(source, 132)[128:132] == b"DICM"


def read(source):
    """The image in a DICOM file as a `DicomImage`.

    source: a path or a binary file-like. Raises ValueError (one sentence: what was wrong, what
    is accepted) for a file that is not DICOM, holds no image, is a 3-D volume, is damaged, or
    is compressed in a way no installed decoder reads; ImportError when pydicom is missing.
    """
    _require_pydicom()
    with _pydicom_silenced():
        return _read(source)


# pydicom's own warnings and log records quote element values ("Invalid value for VR CS:
# 'Doe^John'"); while a file is read here they are dropped. Warning filters and logger filters
# are process-wide, so reads take turns to set and restore them.
_SILENCE = threading.Lock()


def _drop(record):
    return False


@contextlib.contextmanager
def _pydicom_silenced():
    """Within: no pydicom warning is shown and no pydicom log record is emitted."""
    log = logging.getLogger("pydicom")
    with _SILENCE, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        log.addFilter(_drop)
        try:
            yield
        finally:
            log.removeFilter(_drop)


def _read(source):
    """read's work, with pydicom silenced by the caller."""
    ds = _open(source)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ValueError(f"the DICOM file holds no image (no Pixel Data), as a report or a "
                         f"treatment plan does; {_ACCEPTED}")
    ts = _transfer_syntax(ds)
    frames = _frame_count(ds)
    if frames > 1 and _is_volume(ds):
        raise ValueError(f"the file is a 3-D volume of {frames} slices, not a radiograph; "
                         f"{_ACCEPTED}")
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    values, notes = _gray_values(ds, _first_frame(ds, ts), photometric)
    if frames > 1:
        notes = (f"multi-frame file: showing frame 1 of {frames}",) + notes
    center, width, function, window_notes = (_file_window(ds) if photometric in _MONOCHROME
                                             else (None, None, "LINEAR", ()))
    lut_display, lut_window, lut_notes = _apply_voi_lut(ds, values, photometric)
    values.setflags(write=False)
    info = DicomInfo(
        modality=str(ds.get("Modality") or "") or None, rows=values.shape[0],
        columns=values.shape[1], bits_stored=int(ds.get("BitsStored") or 0),
        photometric=photometric, frames=frames, transfer_syntax=_syntax_name(ts),
        window_center=center, window_width=width, voi_function=function,
        has_voi_lut=bool(ds.get("VOILUTSequence")), notes=notes + window_notes + lut_notes)
    return DicomImage(values, info, lut_display, lut_window)


def _require_pydicom():
    """Import pydicom, an optional dependency, or raise ImportError saying how to install it."""
    try:
        import pydicom  # noqa: F401
        import pydicom.pixels  # noqa: F401
    except ImportError as err:
        raise ImportError("reading DICOM files needs pydicom: pip install pydicom") from err


@contextlib.contextmanager
def _damaged(message):
    """Turn any error raised inside into ValueError(message); the original text is dropped (and
    not chained) because pydicom's messages may quote the file's elements."""
    try:
        yield
    except Exception:  # untrusted bytes can make pydicom raise almost anything
        raise ValueError(message) from None


def _head(source, size):
    """The first `size` bytes of a path or of a binary file-like (whose position is kept)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError("pass a path or a binary file-like; wrap bytes in io.BytesIO")
    if hasattr(source, "read"):
        start = source.tell()
        head = source.read(size)
        source.seek(start)
        return head
    with open(os.fspath(source), "rb") as f:
        return f.read(size)


def _open(source):
    """The pydicom dataset in `source`, or ValueError saying why it is not one."""
    from pydicom import dcmread

    head = _head(source, 132)
    if not head:
        raise ValueError(f"the file is empty; {_ACCEPTED}")
    if head[128:132] != b"DICM":
        raise ValueError(f"not a DICOM file: there is no 'DICM' marker at byte 128; {_ACCEPTED}")
    with contextlib.ExitStack() as stack:
        if not hasattr(source, "read"):
            # Opened here rather than by pydicom, which logs the names of the files it opens:
            # PACS exports are often named after the patient.
            source = stack.enter_context(open(os.fspath(source), "rb"))
        with _damaged(f"the file has the DICOM marker but could not be parsed (it may be "
                      f"truncated or damaged); {_ACCEPTED}"):
            return dcmread(source, force=False)  # reads everything, pixel data included


# The standard's codes (PS3.3 C.7.6.3.1.2); anything else is the file's own text, never quoted.
_PHOTOMETRIC_CODES = {"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK",
                      "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420",
                      "YBR_ICT", "YBR_RCT"}


def _syntax_name(ts):
    """A transfer syntax's registered name; an unregistered UID is the file's own text (a
    badly made file may hold anything there, a name included) and is never quoted."""
    name = ts.name
    return "an unregistered transfer syntax" if name == str(ts) else name


def _transfer_syntax(ds):
    """The file's transfer syntax UID, or ValueError when its meta header names none."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if not ts:
        raise ValueError(f"the file's meta header names no transfer syntax, so its pixel data "
                         f"cannot be decoded; {_ACCEPTED}")
    return ts


def _frame_count(ds):
    """Number of Frames as int (1 when absent), or ValueError when it is not a whole number."""
    with _damaged(f"the file's Number of Frames is not a whole number; {_ACCEPTED}"):
        frames = int(ds.get("NumberOfFrames") or 1)
    if frames < 1:
        raise ValueError(f"the file says it has {frames} frames; {_ACCEPTED}")
    return frames


def _is_volume(ds):
    """True when a multi-frame file's frames are slices at different positions in the body
    (an RT dose grid, an enhanced CT or MR), not a series of 2-D views."""
    pointers = ds.get("FrameIncrementPointer")
    pointers = [pointers] if isinstance(pointers, int) else list(pointers or [])
    if any(int(p) in _SLICE_POINTERS for p in pointers):
        return True
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    return bool(per_frame) and "PlanePositionSequence" in per_frame[0]


def _first_frame(ds, ts):
    """The stored pixels of frame 1: (H, W) or, for colour, (H, W, 3) RGB (pydicom converts
    YBR), as decoded by pydicom; ValueError naming the transfer syntax when it cannot be."""
    from pydicom.pixels import get_decoder, pixel_array

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise ValueError(_cannot_decode(ts, "pydicom has no decoder for it")) from None
    if not decoder.is_available:
        raise ValueError(_cannot_decode(ts, "no decoder for it is installed"))
    if ts.is_compressed:
        plugins = ", ".join(decoder.available_plugins)
        failed = _cannot_decode(ts, f"the installed decoder ({plugins}) could not read this file")
    else:
        failed = (f"the pixel data ({_syntax_name(ts)}) cannot be read: the image's rows, columns or bits "
                  f"are missing or do not match it, or the file is truncated; {_ACCEPTED}")
    with _damaged(failed):
        return pixel_array(ds, index=0)  # decodes frame 1 only


def _cannot_decode(ts, reason):
    """One sentence: `ts` by name, why it cannot be decoded, and which syntaxes can."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import AllTransferSyntaxes

    def readable(uid):
        try:
            return get_decoder(uid).is_available
        except NotImplementedError:
            return False

    names = [uid.name for uid in AllTransferSyntaxes if uid.is_compressed and readable(uid)]
    return (f"cannot decode pixel data compressed with {_syntax_name(ts)}: {reason}; this installation "
            f"reads uncompressed files and {', '.join(names) or 'no compressed ones'} "
            f"({_MORE_DECODERS})")


def _gray_values(ds, pixels, photometric):
    """(float32 (H, W) values, notes): the modality LUT for monochrome images, luma for
    colour ones."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    if photometric in _MONOCHROME:
        with _damaged(f"the file's modality LUT (rescale slope and intercept, or Modality LUT "
                      f"Sequence) is damaged; {_ACCEPTED}"):
            values = apply_modality_lut(pixels, ds)
        notes = ()
        if photometric == "MONOCHROME1":
            notes = ("MONOCHROME1 file: the display is inverted so that dense tissue is bright "
                     "(values keep the file's sense)",)
        return np.asarray(values, np.float32), notes
    if photometric == "PALETTE COLOR":
        with _damaged(f"the file's palette colour lookup tables are missing or damaged; "
                      f"{_ACCEPTED}"):
            pixels = apply_color_lut(pixels, ds)
    shown = photometric if photometric in _PHOTOMETRIC_CODES else "unrecognised"
    if photometric != "PALETTE COLOR" and (pixels.ndim != 3 or pixels.shape[-1] != 3):
        raise ValueError(f"unsupported photometric interpretation ({shown}); "
                         "accepted: MONOCHROME1, MONOCHROME2, PALETTE COLOR, RGB and YBR colour")
    note = (f"{shown} colour file: converted to gray by luma "
            f"(0.299 R + 0.587 G + 0.114 B)")
    return (pixels @ _LUMA).astype(np.float32), (note,)


def _file_window(ds):
    """(center, width, function, notes): the file's first Window Center and Width as floats
    with its VOI LUT Function, or (None, None, "LINEAR", notes) when it has no valid one."""
    center, count = _first_number(ds, "WindowCenter")
    width, _ = _first_number(ds, "WindowWidth")
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if center is None or width is None:
        return None, None, "LINEAR", ()
    notes = (f"the file offers {count} windows; the first is used",) if count > 1 else ()
    # PS3.3 C.11.2.1.2: the linear function needs width >= 1, the others width > 0.
    too_narrow = width < 1 if function == "LINEAR" else width <= 0
    if function not in _FUNCTIONS or too_narrow:
        return None, None, "LINEAR", notes + ("the file's window is invalid, so the full value "
                                              "range is shown",)
    return center, width, function, notes


def _first_number(ds, keyword):
    """(first value of element `keyword` as a finite float, its number of values), or
    (None, 0) when the element is absent, empty or not a number."""
    if keyword not in ds or ds[keyword].VM == 0:
        return None, 0
    element = ds[keyword]
    try:
        value = float(element.value[0] if element.VM > 1 else element.value)
    except (TypeError, ValueError):
        return None, 0
    return (value, element.VM) if math.isfinite(value) else (None, 0)


def _apply_voi_lut(ds, values, photometric):
    """(uint8 (H, W) display, (center, width) the LUT covers, notes) from the file's first VOI
    LUT, or (None, None, notes) when it has none, is colour, or the LUT cannot be applied."""
    from pydicom.pixels import apply_voi

    if photometric not in _MONOCHROME or not ds.get("VOILUTSequence"):
        return None, None, ()
    try:
        entries, first, bits = (int(v) for v in ds.VOILUTSequence[0].LUTDescriptor)
        # The LUT indexes integers; the modality LUT may have produced floats.
        out = apply_voi(np.rint(values).astype(np.int64), ds)
    except Exception:  # a damaged LUT costs the LUT, not the image; its text may quote the file
        return None, None, ("the file's VOI LUT could not be applied, so its window or the full "
                            "value range is shown",)
    entries = entries or 2 ** 16  # 0 entries means 65536 (PS3.3 C.11.2.1.1)
    # The LUT's output range is 0 .. 2**bits - 1 (PS3.3 C.11.2.1.1); scale it onto 0 .. 255.
    display = np.rint(out * (255 / (2 ** bits - 1))).astype(np.uint8)
    display.setflags(write=False)
    return display, (first + entries / 2, float(entries)), ()


def _window(values, center, width, function="LINEAR"):
    """uint8 (H, W): pydicom's VOI window function (PS3.3 C.11.2.1.2) of `values`, onto 0..255."""
    from pydicom.dataset import Dataset
    from pydicom.pixels import apply_windowing

    # A throwaway dataset holding only the window: an unsigned 8-bit output range with no
    # rescale makes pydicom's window land on 0..255 directly.
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8
    voi.PixelRepresentation = 0
    voi.WindowCenter = center
    voi.WindowWidth = width
    voi.VOILUTFunction = function
    return np.rint(apply_windowing(values, voi)).astype(np.uint8)


def _check_number(name, value):
    """`value` as a finite float, or ValueError naming the argument."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {type(value).__name__}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite; got {number}")
    return number
