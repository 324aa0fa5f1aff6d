"""DICOM test files drawn from the project's phantoms and written with pydicom the way a PACS
exports them: Part 10 (preamble and 'DICM'), explicit VR little endian, native pixel data.

    ds = dicom_files.dataset(image)                      # MONOCHROME2, 8 bits
    ds = dicom_files.dataset(255 - image, photometric="MONOCHROME1")
    ds = dicom_files.dataset(stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024)
    dicom_files.save(ds, tmp_path / "x.dcm")

Each builder returns a pydicom FileDataset, so a test can change it (or break it) before saving.
"""
import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from train.phantoms import phantom

# What a PACS export carries about the patient, the study and the site; distinctive strings so
# a test can search for them anywhere (reprs, messages, logs).
IDENTIFIERS = {
    "PatientName": "Quixwell^Zorbina",
    "PatientID": "PID-730615-QZ",
    "PatientBirthDate": "19230417",
    "PatientAddress": "12 Larkspur Row, Vexmouth",
    "OtherPatientIDs": "OPID-55321",
    "AccessionNumber": "ACC9917366",
    "InstitutionName": "Saint Zebulon Infirmary",
    "InstitutionAddress": "1 Harrowgate Quay",
    "ReferringPhysicianName": "Wexford^Yolanda",
    "PerformingPhysicianName": "Thistlebrook^Oswin",
    "StudyID": "STY4471Q",
    "StudyDescription": "Zorbina chest follow-up",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.73061523417",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.73061523418",
}


def phantom_image(seed=0, size=64, lesion=False):
    """A phantom chest radiograph, uint8 (size, size), dense tissue bright."""
    return phantom(np.random.default_rng(seed), lesion, size)[0]


def dataset(pixels, photometric="MONOCHROME2", bits_stored=None, signed=False, **elements):
    """A FileDataset holding `pixels`: (H, W) or (frames, H, W) integers, stored in 8 bits when
    they are uint8, else in 16 (bits_stored of them); `elements` are set on it by keyword."""
    pixels = np.asarray(pixels)
    bits = 8 if pixels.dtype == np.uint8 else 16
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = pixels.astype(dtype).tobytes()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def voi_lut(ds, first, lut, bits):
    """`ds` with a VOI LUT Sequence of one LUT: input `first` maps to lut[0]; entries of `bits`
    bits (8 or 10-16)."""
    item = Dataset()
    item.LUTDescriptor = [len(lut), first, bits]
    # LUT Data's VR is ambiguous (US or OW); say US so the entries are plain numbers.
    item.add(DataElement(0x00283006, "US", [int(v) for v in lut]))
    ds.VOILUTSequence = [item]
    return ds


def identified(ds):
    """`ds` with every entry of IDENTIFIERS filled in."""
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    return ds


def save(ds, path):
    """Write `ds` as a DICOM Part 10 file at `path` (or into a binary file-like); returns path."""
    ds.save_as(path, enforce_file_format=True)
    return path
