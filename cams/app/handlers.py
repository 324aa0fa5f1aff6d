"""The loaded model and the work behind each button: every handler returns data (arrays, numbers,
names), never page text; text.py formats it and page.py lays it out.

Images are explained at display size (uploads.DISPLAY_MAX): the overlays are that size, and the
model gets that image resized to its input.
"""
import glob
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import cv2
import numpy as np

import cams
from cams import metrics
from cams.io import images, modelcard, overlays
from cams.app.uploads import BadInput, read_upload

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "gray")
PREDICTED = "predicted class"
TRUST_STEPS = 32  # deletion/insertion points: every 1/32 of the pixels, as cams.report
GALLERY_SIDE = 1024  # long side of the Compare and Layer sweep tiles


@dataclass(frozen=True)
class Explained:
    """One image explained: what the Explain tab shows and offers for download."""
    probabilities: dict      # class name -> probability
    original: np.ndarray     # uint8 RGB, the upload as explained (long side <= DISPLAY_MAX)
    overlay: np.ndarray      # uint8 RGB, the same size
    raw: np.ndarray          # uint8 RGB, the map at its own resolution, enlarged
    explanation: object      # the cams.Explanation; its heatmaps[0] is the layer-resolution map
    class_name: str          # the class explained
    seconds: float
    outlined: bool           # the true lesion is drawn (a shipped example)
    upload: object           # the uploads.Upload: size, kind, DICOM facts
    record: dict             # the JSON-ready account of it all (no file name, no identifier)


@dataclass(frozen=True)
class Compared:
    """One image through every backend."""
    gallery: list            # [(overlay or the upload, caption)]
    seconds: dict            # backend -> seconds, for the backends that computed the map
    differences: dict        # (backend a, backend b) -> max |map_a - map_b|
    largest_difference: float  # the largest of them (NaN if < 2 backends computed a map)
    layer: str
    outlined: bool


@dataclass(frozen=True)
class Trust:
    """Can the shown map be trusted: its deletion and insertion curves and the randomization
    check's rank correlation."""
    fractions: np.ndarray    # (steps + 1,) share of pixels removed / inserted
    deletion: np.ndarray     # (steps + 1,) the class probability as the top pixels are removed
    insertion: np.ndarray    # (steps + 1,) ... as they are painted onto a blurred copy
    deletion_auc: float
    insertion_auc: float
    rho: float | None        # Spearman's rho, map vs map of a randomized top (None: not possible)
    rho_note: str            # why rho is None, else ""
    class_name: str
    method: str
    backend: str
    layer: str
    seconds: float


def digest(rgb):
    """A content key for an RGB array (uploads of an example are copies of it)."""
    return hashlib.sha1(np.ascontiguousarray(rgb)).hexdigest()


def outline(rgb, mask):
    """The mask's outline drawn in white over an RGB image of any size."""
    mask = cv2.resize(mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                      interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = rgb.copy()
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, rgb.shape[0] // 224))
    return out


def examples_in(folder):
    """(example image paths, {content digest: lesion mask}) of a class-per-folder set."""
    paths = sorted(glob.glob(os.path.join(folder, "*", "*.png")))
    paths = [p for p in paths if os.sep + images.MASKS_DIR + os.sep not in p]
    masks = {}
    for path in paths:
        mask_path = os.path.join(folder, images.MASKS_DIR, os.path.relpath(path, folder))
        if os.path.isfile(mask_path):
            rgb = np.asarray(images.read_rgb(path))
            masks[digest(rgb)] = images.read_mask(mask_path)
    return paths, masks


def versions():
    """{package: version} of what computed an explanation."""
    import keras
    import tensorflow as tf

    return {"cams": cams.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}


class App:
    """The loaded model and everything the handlers need; loads once, warms up once."""

    def __init__(self, model_path, examples_dir=None):
        self.model_path = model_path
        self.examples_dir = examples_dir
        self.model, self.card = modelcard.load(model_path)
        self.size = images.height_width(self.card.input_size[:2])  # (H, W): models need not be square
        self.classes = list(self.card.class_names)
        self.layers = cams.conv_layers(self.model)
        recorded = self.card.cam_layer
        self.default_layer = recorded if recorded in self.layers else self.layers[-1]
        self.examples, self.masks = examples_in(examples_dir) if examples_dir else ([], {})

    def warm_up(self):
        """Trace and build every backend, and the metrics' probability function, once, so the
        first click does not stall."""
        x = self.card.preprocess(np.zeros((1, *self.size, 3), np.float32))
        for backend in cams.BACKENDS:
            try:
                cams.explain(self.model, x, layer=self.default_layer, backend=backend)
            except ValueError:  # a backend that cannot explain this model says so per request
                continue
        metrics.class_probability(self.model, x, [0])

    def _target(self, target):
        if target in (None, "", PREDICTED):
            return None
        if target not in self.classes:
            raise BadInput(f"Unknown target class {target!r}; choose one of: "
                           f"{', '.join([PREDICTED] + self.classes)}.")
        return self.classes.index(target)

    def _check(self, method, layer, alpha, colormap, backend=None):
        if backend is not None and backend not in cams.BACKENDS:
            raise BadInput(f"Unknown backend {backend!r}; choose one of {', '.join(cams.BACKENDS)}.")
        if method not in cams.METHODS:
            raise BadInput(f"Unknown method {method!r}; choose one of {', '.join(cams.METHODS)}.")
        if layer not in self.layers:
            raise BadInput(f"Unknown layer {layer!r}: choose one from the Layer menu (the "
                           f"model's {len(self.layers)} spatial layers, e.g. {self.default_layer!r}).")
        if colormap not in COLORMAPS:
            raise BadInput(f"Unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}.")
        if alpha is None or not 0 <= float(alpha) <= 1:
            raise BadInput("Alpha must be between 0 and 1.")

    @staticmethod
    def options(method, backend, conventions=False, top_k=0):
        """The method's options: the backend's conventions where asked for (always in a backend
        that computes nothing else), and Score-CAM's top k channels (0 = all)."""
        options = {}
        fixed = cams.conventions(backend)
        if conventions or fixed is not None:
            options.update((fixed or cams.conventions("tf-keras-vis")).get(method, {}))
        if method == "scorecam":
            try:
                k = int(top_k or 0)
            except (TypeError, ValueError):
                raise BadInput(f"Top k must be a whole number (0 for every channel); got {top_k!r}.") from None
            if k < 0:
                raise BadInput("Top k must be 0 (every channel) or a positive number of channels.")
            options["top_k"] = k or None
        return options

    def _batch(self, image):
        small = images.resize(image, self.size)
        return self.card.preprocess(small[None].astype(np.float32))

    @property
    def head(self):
        """What the model's outputs are: "multiclass", "multilabel", "binary" or "regression"
        (cams.model.scores.KINDS)."""
        return cams.describe(self.model).head.kind

    def probabilities(self, res):
        """{class name: probability} of the first image of a cams.Explanation: its
        `probabilities` row, as cams reads the head (a softmax row; a single sigmoid unit as
        1 - p, p; each label's own sigmoid for a multi-label head; a regression unit's output
        as it is). The one place the page's numbers come from."""
        return {name: float(v) for name, v in zip(self.classes, res.probabilities[0])}

    def preview(self, source, window_center=None, window_width=None):
        """The upload as it will be explained: an uploads.Upload."""
        return read_upload(source, window_center, window_width)

    def _explained_map(self, source, backend, method, layer, target, conventions, top_k,
                       window_center, window_width):
        """(upload, model input x (1, H, W, 3), cams.Explanation, options, seconds)."""
        options = self.options(method, backend, conventions, top_k)
        upload = read_upload(source, window_center, window_width)
        x = self._batch(upload.image)
        start = time.perf_counter()
        res = cams.explain(self.model, x, layer=layer, class_index=self._target(target),
                           method=method, backend=backend, **options)
        return upload, x, res, options, time.perf_counter() - start

    def explain(self, source, backend="eager", method="gradcam", layer=None, target=PREDICTED,
                alpha=0.4, colormap="jet", conventions=False, top_k=0, window_center=None,
                window_width=None):
        """Explained for one upload (a path or the file's bytes; DICOM through the window
        window_center, window_width, None for the file's own)."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap, backend)
        upload, _, res, _, seconds = self._explained_map(
            source, backend, method, layer, target, conventions, top_k, window_center,
            window_width)
        rgb = np.asarray(upload.image)
        heat = res.heatmaps[0]
        over = cams.overlay(rgb, heat, alpha=float(alpha), colormap=colormap)
        mask = self.masks.get(digest(rgb))
        if mask is not None:
            over = outline(over, mask)
        scale = 256 / max(heat.shape)  # the long side at 256, the model's aspect kept
        raw = cv2.resize(cams.colorize(heat, colormap), (round(heat.shape[1] * scale),
                         round(heat.shape[0] * scale)), interpolation=cv2.INTER_NEAREST)
        probabilities = self.probabilities(res)
        class_name = self.classes[int(res.class_index[0])]
        record = self.record(res, upload, class_name, probabilities,
                             {"alpha": float(alpha), "colormap": colormap}, seconds)
        return Explained(probabilities, rgb, over, raw, res, class_name, seconds,
                         mask is not None, upload, record)

    def record(self, res, upload, class_name, probabilities, display, seconds):
        """The JSON-ready account of one explanation: what was explained how, by what versions.
        It names the model file but never the upload's, and of a DICOM file only how it is
        stored and shown (uploads.DicomFacts)."""
        facts = upload.dicom
        return {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": os.path.basename(self.model_path),
            "classes": list(self.classes),
            "method": res.method, "backend": res.backend, "layer": res.layer,
            "score": res.score, "head": res.head,
            "class_index": int(res.class_index[0]), "class_name": class_name,
            "probabilities": probabilities,
            "options": dict(res.options), "display": display,
            "heatmap": {"shape": list(res.heatmaps.shape[1:]), "dtype": "float32",
                        "range": [0, 1]},
            "image": {"kind": upload.kind, "width": upload.width, "height": upload.height,
                      "explained_at": list(upload.image.size),
                      "model_input": [self.size[1], self.size[0]]},  # (W, H) as explained_at
            "dicom": None if facts is None else {
                "modality": facts.modality, "rows": facts.rows, "columns": facts.columns,
                "bits_stored": facts.bits_stored, "photometric": facts.photometric,
                "window": facts.window, "window_center": facts.center,
                "window_width": facts.width, "notes": list(facts.notes)},
            "seconds": round(seconds, 4),
            "versions": versions(),
        }

    def trust(self, source, backend="eager", method="gradcam", layer=None, target=PREDICTED,
              conventions=False, top_k=0, window_center=None, window_width=None,
              steps=TRUST_STEPS):
        """Trust for the map explain shows with the same choices: deletion and insertion
        (cams.metrics.deletion_insertion) and the randomization check's rho."""
        layer = layer or self.default_layer
        self._check(method, layer, 0.5, "jet", backend)
        start = time.perf_counter()
        _, x, res, options, _ = self._explained_map(
            source, backend, method, layer, target, conventions, top_k, window_center,
            window_width)
        classes = res.class_index
        curves = metrics.deletion_insertion(self.model, x, res.heatmaps, classes, steps=steps)

        def explain(model, batch):
            return cams.explain(model, batch, layer=res.layer, class_index=classes,
                                method=method, backend=backend, **options).heatmaps

        try:
            rho, note = float(metrics.randomization_check(self.model, x, explain, res.layer)[0]), ""
        except ValueError as err:  # nothing with weights above the layer
            rho, note = None, str(err)
        return Trust(np.linspace(0, 1, steps + 1), curves["deletion_curve"][0],
                     curves["insertion_curve"][0], float(curves["deletion"][0]),
                     float(curves["insertion"][0]), rho, note,
                     self.classes[int(classes[0])], res.method, res.backend, res.layer,
                     time.perf_counter() - start)

    def compare(self, source, method="gradcam", layer=None, target=PREDICTED, alpha=0.4,
                colormap="jet", conventions=True, top_k=0, window_center=None,
                window_width=None):
        """Every backend on the same image: Compared.

        With conventions (the default), every backend computes tf-keras-vis' variant of the
        method, so the three can be compared; without, tf-keras-vis says what it cannot do."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap)
        options = self.options(method, "eager", conventions, top_k)
        upload = read_upload(source, window_center, window_width)
        rgb, x, cls = np.asarray(upload.image), self._batch(upload.image), self._target(target)
        mask = self.masks.get(digest(rgb))
        maps, gallery, seconds = {}, [], {}
        for backend in cams.BACKENDS:
            start = time.perf_counter()
            try:
                res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                                   backend=backend, **options)
            except ValueError as err:  # a method this backend cannot express
                gallery.append((overlays.shrink(rgb, GALLERY_SIDE), f"{backend}: {err}"))
                continue
            seconds[backend] = time.perf_counter() - start
            maps[backend] = res.heatmaps[0]
            over = cams.overlay(rgb, res.heatmaps[0], float(alpha), colormap, GALLERY_SIDE)
            gallery.append((over if mask is None else outline(over, mask),
                            f"{backend} · {seconds[backend] * 1000:.0f} ms"))
        names = list(maps)
        differences = {(a, b): float(np.abs(maps[a] - maps[b]).max())
                       for i, a in enumerate(names) for b in names[i + 1:]}
        largest = max(differences.values()) if differences else float("nan")
        return Compared(gallery, seconds, differences, largest, layer, mask is not None)

    def sweep(self, source, layers, method="gradcam", target=PREDICTED, colormap="jet",
              window_center=None, window_width=None):
        """A heatmap per chosen layer: [(overlay, layer path, (h, w))]."""
        if not layers:
            raise BadInput("Choose at least one layer to sweep.")
        for layer in layers:
            self._check(method, layer, 0.5, colormap)
        upload = read_upload(source, window_center, window_width)
        rgb, x, cls = np.asarray(upload.image), self._batch(upload.image), self._target(target)
        options = self.options(method, "eager", top_k=16 if method == "scorecam" else 0)
        found = []
        for layer in layers:
            res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                               **options)
            found.append((cams.overlay(rgb, res.heatmaps[0], 0.5, colormap, GALLERY_SIDE), layer,
                          res.heatmaps.shape[1:]))
        return found
