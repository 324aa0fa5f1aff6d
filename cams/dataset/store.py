"""The store a dataset run writes: OUT/maps.zarr (Zarr) and OUT/index.csv / index.parquet.

maps.zarr holds, row for row in the dataset's order:
    heatmaps       float16 (N, h, w), or (N, L, h, w) with several classes per image
    probabilities  float32 (N, C)   every class's probability
    predicted      int32 (N,)       explained int32 (N, L)
    status         int8 (N,)        0 not yet explained, 1 explained, 2 unreadable file
and in its attributes the run's settings, the class names and each unreadable file's reason.
A row's maps are written before its status, and Zarr writes each chunk atomically, so a run
killed at any point leaves a valid store in which every row marked done is complete.
"""
import json
import os

import numpy as np

PENDING, DONE, UNREADABLE = 0, 1, 2
STATUS = {PENDING: "pending", DONE: "ok", UNREADABLE: "unreadable"}
_COLUMNS = ("heatmaps", "probabilities", "predicted", "explained")
_STORED = {"heatmaps": np.float16}  # maps in [0, 1] need no more than float16's 1e-3


# the first release whose LocalStore writes each chunk atomically (zarr-python #3412): before
# it, a run killed mid-write could leave a torn chunk that --resume then reads
ZARR_ATOMIC = (3, 1, 3)


def _zarr():
    try:
        import zarr
    except ModuleNotFoundError:
        raise ImportError("the dataset store needs Zarr: pip install 'zarr>=3.1.3' pandas "
                          "pyarrow (or the package's [dataset] extra)") from None
    if _release(zarr.__version__) < ZARR_ATOMIC:
        raise ImportError(f"the dataset store needs zarr 3.1.3 or later, whose chunk writes "
                          f"survive an interruption; found {zarr.__version__}: pip install "
                          "'zarr>=3.1.3'")
    return zarr


def _release(version):
    """(major, minor, patch) of a version string such as '3.1.6' or '3.2.0rc1'."""
    import re

    found = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    return tuple(int(part or 0) for part in found.groups()) if found else (0, 0, 0)


class Store:
    """The maps of one run in OUT/maps.zarr, created or reopened for the same settings.

    settings: a JSON-able dict (model, method, layer, ...); reopening a store made with other
    settings raises ValueError naming the differences. n: the number of rows, or None when the
    source's length is unknown (an iterable of batches): the arrays then grow as rows arrive.
    chunk: rows per chunk (the batch size, so a batch is written as whole chunks).
    """

    def __init__(self, out, settings, n=None, chunk=32):
        zarr = _zarr()
        self.path = os.path.join(out, "maps.zarr")
        settings = json.loads(json.dumps(settings))  # as it will read back
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"the output {out} is a file; give a folder (created, or a "
                             "stopped run's to continue)")
        os.makedirs(out, exist_ok=True)
        self.group = zarr.open_group(self.path, mode="a")
        if "status" in self.group:
            _check_same(dict(self.group.attrs).get("settings", {}), settings, self.path)
        else:
            self.group.attrs.update({"settings": settings, "errors": {}})
            self.group.create_array("status", shape=(n or 0,), chunks=(max(4096, chunk),),
                                    dtype="int8", fill_value=PENDING)
        self.chunk = chunk
        self.status = self.group["status"]

    def pending(self):
        """Rows (int64) not yet explained nor found unreadable, in order."""
        return np.flatnonzero(self.status[:] == PENDING).astype(np.int64)

    def counts(self):
        """{"ok": n, "unreadable": n, "pending": n} over the rows so far."""
        status = self.status[:]
        return {name: int((status == code).sum()) for code, name in STATUS.items()}

    def layer(self):
        """The layer the run explained at, once a batch was written (None before)."""
        return dict(self.group.attrs).get("layer")

    def errors(self):
        """{row: reason} of the unreadable files."""
        return {int(k): v for k, v in dict(self.group.attrs).get("errors", {}).items()}

    def _arrays(self, result):
        if "heatmaps" not in self.group:
            n = self.status.shape[0]
            for key in _COLUMNS:
                value = result[key]
                self.group.create_array(key, shape=(n,) + value.shape[1:],
                                        chunks=(self.chunk,) + value.shape[1:],
                                        dtype=_STORED.get(key, value.dtype), fill_value=0)
        return {key: self.group[key] for key in _COLUMNS}

    def _grow(self, arrays, end):
        for array in [self.status, *arrays.values()]:
            if array.shape[0] < end:
                array.resize((end,) + array.shape[1:])

    def write(self, result, errors=None):
        """Write one batch: the step's output dict (row, ok, heatmaps, ...), and `errors`
        (one reason per row, "" for a readable one). Maps first, then status."""
        order = np.argsort(result["row"], kind="stable")
        result = {k: np.asarray(v)[order] for k, v in result.items()}
        errors = None if errors is None else np.asarray(errors)[order]
        rows = result["row"].astype(np.int64)
        if not len(rows):
            return
        arrays = self._arrays(result)
        self._grow(arrays, int(rows.max()) + 1)
        contiguous = bool((np.diff(rows) == 1).all())
        where = slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows
        for key, array in arrays.items():
            _put(array, where, result[key])
        bad = [(int(r), str(e)) for r, e, ok in zip(rows, errors if errors is not None
                                                    else [""] * len(rows), result["ok"])
               if not ok]
        if bad:
            self.group.attrs["errors"] = {**dict(self.group.attrs)["errors"],
                                          **{str(r): e for r, e in bad}}
        _put(self.status, where, np.where(result["ok"], DONE, UNREADABLE).astype(np.int8))
        layer = str(result["layer"][0]) if "layer" in result else ""
        if layer and "layer" not in self.group.attrs:   # the first batch's choice, kept
            self.group.attrs["layer"] = layer


def _put(array, where, value):
    if isinstance(where, slice):
        array[where] = value
    else:
        array.oindex[where] = value


def _check_same(before, now, path):
    differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    if differ:
        said = "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in differ)
        raise ValueError(f"{path} holds a run with other settings ({said}); run with the same "
                         "settings to continue it, or choose another --out")


def write_index(out, store, names, class_names, labels):
    """OUT/index.csv and OUT/index.parquet: one row per image in the arrays' order: its path
    (as the source names it), label, status, reason when unreadable, predicted class and its
    probability, explained class(es) and each class's probability. Returns the DataFrame."""
    import pandas as pd

    status = store.status[:]
    n = len(status)
    table = pd.DataFrame({"row": np.arange(n), "path": list(names)[:n],
                          "label": [lab or "" for lab in list(labels)[:n]],
                          "status": [STATUS[int(s)] for s in status]})
    errors = store.errors()
    table["error"] = [errors.get(i, "") for i in range(n)]
    if "heatmaps" in store.group:
        done = status == DONE
        probabilities = store.group["probabilities"][:]
        predicted = store.group["predicted"][:]
        explained = store.group["explained"][:]
        table["predicted"] = [class_names[p] if d else "" for p, d in zip(predicted, done)]
        table["predicted_probability"] = np.where(
            done, probabilities[np.arange(n), predicted], np.nan)
        if explained.shape[1] == 1:
            table["explained"] = [class_names[e] if d else "" for e, d in
                                  zip(explained[:, 0], done)]
            table["explained_probability"] = np.where(
                done, probabilities[np.arange(n), explained[:, 0]], np.nan)
        else:  # heatmaps[:, j] explains explained[:, j]: every class, in order
            table["explained"] = np.where(done, "all", "")
        for j, name in enumerate(class_names):
            table[f"probability_{name}"] = np.where(done, probabilities[:, j], np.nan)
    table.to_csv(os.path.join(out, "index.csv"), index=False)
    table.to_parquet(os.path.join(out, "index.parquet"), index=False)
    return table
