"""The files a person can download after an explanation: the overlay PNG, the heatmap at layer
resolution (.npy, float32) and the explanation's JSON record.

Each request writes into its own folder under one temporary root (outside Gradio's folder, whose
pruning must not race the copy). Gradio copies returned files into its own cache as the request
ends, and serves and deletes those copies, so a folder here is removed once it is `keep`
seconds old, at a later request, and the root when the process exits. File names say what is
inside, never what was uploaded.
"""
import atexit
import json
import os
import re
import shutil
import tempfile
import threading
import time

import numpy as np
from PIL import Image


class Downloads:
    """Writes the download files of one explanation per call; prunes old request folders."""

    def __init__(self, keep=60):
        self.keep = keep
        self.root = tempfile.mkdtemp(prefix="cams-downloads-")
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def write(self, explained):
        """[overlay .png, heatmap .npy, explanation .json] paths for an handlers.Explained."""
        self._prune()
        folder = tempfile.mkdtemp(dir=self.root)
        res = explained.explanation
        stem = "-".join(_safe(part) for part in (res.method, explained.class_name))
        paths = [os.path.join(folder, f"{what}-{stem}.{suffix}") for what, suffix in
                 (("overlay", "png"), ("heatmap", "npy"), ("explanation", "json"))]
        Image.fromarray(explained.overlay).save(paths[0])  # no metadata chunks
        np.save(paths[1], res.heatmaps[0].astype(np.float32))
        with open(paths[2], "w") as f:
            json.dump(explained.record, f, indent=2, default=str)
        return paths

    def _prune(self):
        """Remove request folders older than `keep` seconds."""
        cutoff = time.time() - self.keep
        with self._lock:
            for entry in os.scandir(self.root):
                try:
                    if entry.stat().st_mtime < cutoff:
                        shutil.rmtree(entry.path, ignore_errors=True)
                except FileNotFoundError:
                    continue


def _safe(name):
    """`name` for a file name: "+" as "p" (gradcam++ -> gradcampp), every other character but
    letters, digits, '-' and '_' as '_'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(name).replace("+", "p")).strip("_") or "x"
