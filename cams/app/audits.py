"""The Audit tab's work: unpack a zip of at most MAX_IMAGES images (and an optional zip of
masks) safely, run cams.audit on it, keep the report; the shipped examples' audit once.

Bounded: at most MAX_IMAGES images, each file at most MAX_MEMBER_MB unpacked, every image read
at the model's input size, so time and memory grow with nothing a person uploads beyond that.
"""
import io
import os
import tempfile
import threading
import zipfile

from cams.app.uploads import BadInput
from cams.io.sources import IMAGE_TYPES

MAX_IMAGES = 200
MAX_MEMBER_MB = 20


def unzip(data, dest, what="images"):
    """Write the image files of the zip `data` (bytes) under `dest`, keeping their folders
    (one top folder holding everything is dropped). Returns how many. BadInput for a file that
    is not a zip, an entry that leaves the folder, too many or too large images, or none."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BadInput(f"the {what} file is not a zip archive") from None
    entries = [e for e in archive.infolist() if not e.is_dir()
               and e.filename.lower().endswith(IMAGE_TYPES)
               and not os.path.basename(e.filename).startswith(".")
               and "__MACOSX" not in e.filename]
    if not entries:
        raise BadInput(f"the {what} zip holds no image ({', '.join(IMAGE_TYPES)})")
    if len(entries) > MAX_IMAGES:
        raise BadInput(f"the {what} zip holds {len(entries)} images; the demo audits at most "
                       f"{MAX_IMAGES} (run python -m cams.audit for more)")
    parts = [e.filename.replace("\\", "/").split("/") for e in entries]
    if any(p[0] == "" or ".." in p for p in parts):
        raise BadInput(f"the {what} zip has a path that leaves its folder")
    drop = int(len({p[0] for p in parts}) == 1 and all(len(p) > 2 for p in parts))
    for entry, p in zip(entries, parts):
        if entry.file_size > MAX_MEMBER_MB * 2 ** 20:
            raise BadInput(f"{'/'.join(p)} is larger than {MAX_MEMBER_MB} MB unpacked")
        path = os.path.join(dest, *p[drop:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with archive.open(entry) as src, open(path, "wb") as out:
            out.write(src.read(MAX_MEMBER_MB * 2 ** 20 + 1))
    return len(entries)


class Audits:
    """Audits for the demo's model: `examples()` (computed once) and `run(zips)`."""

    def __init__(self, app):
        self.app = app
        self._examples = None
        self._lock = threading.Lock()

    @property
    def class_names(self):
        """The model's class names, in its output order: the class folders an upload holds."""
        return list(self.app.classes)

    def _audit(self, data, roi, out, progress=None):
        from cams.audit.pipeline import audit

        return audit(self.app.model, data, out, roi, preprocess=self.app.card.preprocess,
                     layer=self.app.default_layer, class_names=self.app.classes,
                     max_images=MAX_IMAGES, progress=progress)

    def examples(self):
        """(Audit, report path) of the shipped examples, computed on the first call."""
        with self._lock:
            if self._examples is None:
                out = tempfile.mkdtemp(prefix="cams-audit-examples-")
                found = self._audit(self.app.examples_dir, None, out)
                self._examples = found, os.path.join(out, "report.html")
            return self._examples

    def run(self, images_zip, masks_zip=None, progress=None):
        """(Audit, report path) of the uploaded zip (bytes) with its optional masks zip.
        progress(fraction, step) as the audit's steps start."""
        if images_zip is None:
            raise BadInput("upload a zip of images (class folders inside, e.g. "
                           f"{self.class_names[0]}/*.png)")
        work = tempfile.mkdtemp(prefix="cams-audit-")
        data = os.path.join(work, "data")
        unzip(images_zip, data)
        roi = None
        if masks_zip is not None:
            roi = os.path.join(work, "roi")
            unzip(masks_zip, roi, "masks")
        out = os.path.join(work, "out")
        try:
            found = self._audit(data, roi, out, progress)
        except ValueError as err:
            raise BadInput(str(err).replace(work + os.sep, "")) from None
        return found, os.path.join(out, "report.html")
