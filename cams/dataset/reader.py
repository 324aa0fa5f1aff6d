"""Sources -> batches: files decoded by a pool of threads, a few batches ahead of the explainer.

Decoding (PIL, pydicom and the resize release the GIL for most of their work) overlaps the
model's compute, so the explainer never waits for the disk; memory is bounded by `ahead`
batches.
"""
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cams.io import images

_DONE = object()


def decode(rows, items, size, label_of, pool=None):
    """One batch (the step's input dict, plus `error`: a reason per row, "" when ok) of the
    items at `rows`; `size` (H, W); label_of(item) -> class index or -1."""
    return decode_paths(rows, [items[r].path for r in rows],
                        [label_of(items[r]) for r in rows], size, pool)


def decode_paths(rows, paths, labels, size, pool=None):
    """decode() of files given by path, with their label indices (-1: unknown)."""
    def read(path):
        try:
            return images.read_image(path, size), ""
        except images.BadFile as err:
            return None, str(err)

    found = list(pool.map(read, paths) if pool is not None else map(read, paths))
    image = np.zeros((len(paths),) + tuple(size) + (3,), np.uint8)
    for i, (array, _) in enumerate(found):
        if array is not None:
            image[i] = array
    return {"row": np.asarray(rows, np.int64), "image": image,
            "label": np.asarray(labels, np.int32),
            "ok": np.asarray([e == "" for _, e in found], bool),
            "error": np.asarray([e for _, e in found], object)}


def batches(items, rows, size, label_of, batch_size=32, workers=4, ahead=3):
    """Yield decode()'s batches of `rows` (in order, batch_size each), read by `workers`
    threads and kept at most `ahead` batches ahead of the consumer."""
    ready = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce():
        try:
            with ThreadPoolExecutor(workers) as pool:
                for i in range(0, len(rows), batch_size):
                    if stop.is_set():
                        return
                    ready.put(decode(rows[i:i + batch_size], items, size, label_of, pool))
        except BaseException as err:  # handed to the consumer, raised there
            ready.put(err)
        finally:
            ready.put(_DONE)

    thread = threading.Thread(target=produce, name="cams-reader", daemon=True)
    thread.start()
    try:
        while (batch := ready.get()) is not _DONE:
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
