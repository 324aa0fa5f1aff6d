"""One fingerprint, of bytes, for what a resumable store was made from: a model file or folder,
a model in memory, arrays of images. A store continued with another model or other data is
refused by comparing these (cams.dataset, cams.report)."""
import hashlib
import os

import numpy as np

BLOCK = 1 << 20


def file_sha256(path):
    """sha256 of a file's bytes; of a folder (a SavedModel), every file's relative path and
    bytes, in sorted order."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, folders, files in os.walk(path):
            folders.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                _update_with_file(digest, full)
    else:
        _update_with_file(digest, path)
    return digest.hexdigest()


def _update_with_file(digest, path):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)


def model_sha256(model):
    """sha256 of a model in memory: its class, its variables' paths, shapes and values."""
    import keras

    digest = hashlib.sha256(type(model).__qualname__.encode())
    for v in model.variables:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(v.value))
        digest.update(f"{v.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def arrays_sha256(*arrays):
    """sha256 of arrays' dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()
