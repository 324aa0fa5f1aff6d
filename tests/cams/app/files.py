"""Files the app tests upload: the shipped examples, images of every kind, DICOM files."""
import os

import numpy as np
from PIL import Image

MODEL = "models/xray_phantoms.keras"
EXAMPLES = "models/examples"


def example(app, label="opacity"):
    """The first shipped example of a class folder."""
    return next(p for p in app.examples if os.sep + label + os.sep in p)


def save_image(tmp_path, name, array, mode=None):
    """`array` written as an image file named `name` (its format from the suffix); the path."""
    path = tmp_path / name
    (Image.fromarray(array, mode) if mode else Image.fromarray(np.asarray(array))).save(path)
    return str(path)


def dicom_radiograph(tmp_path, name="chest.dcm", identified=True, size=256, **elements):
    """A 12-bit DICOM radiograph of a phantom with a lesion (values 0..4080), with a window
    (centre 2000, width 3000) and, by default, every patient identifier of
    tests.dicom_files.IDENTIFIERS set."""
    from tests import dicom_files

    pixels = dicom_files.phantom_image(seed=3, size=size, lesion=True).astype(np.uint16) * 16
    ds = dicom_files.dataset(pixels, bits_stored=12, **{"WindowCenter": 2000,
                                                        "WindowWidth": 3000, **elements})
    if identified:
        dicom_files.identified(ds)
    return str(dicom_files.save(ds, tmp_path / name))


def identifiers():
    """The distinctive strings a test DICOM carries about its patient, study and site, with
    the birth date also as a reader would write it."""
    from tests import dicom_files

    values = list(dicom_files.IDENTIFIERS.values())
    return values + ["Quixwell", "Zorbina", "1923-04-17"]
