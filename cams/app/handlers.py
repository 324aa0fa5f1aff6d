"""The loaded model and the work behind each button: every handler returns data (arrays, numbers,
names), never page text; text.py formats it."""
import glob
import hashlib
import os
import time
from dataclasses import dataclass

import cv2
import numpy as np

import cams
from cams import images, modelcard
from cams.app.uploads import BadInput, read_upload

COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "gray")
PREDICTED = "predicted class"


@dataclass(frozen=True)
class Explained:
    """One image explained: what the Explain tab shows."""
    probabilities: dict      # class name -> probability
    overlay: np.ndarray      # uint8 RGB at the upload's size
    raw: np.ndarray          # uint8 RGB, the map at its own resolution, enlarged
    explanation: object      # the cams.Explanation
    class_name: str          # the class explained
    seconds: float
    outlined: bool           # the true lesion is drawn (a shipped example)


@dataclass(frozen=True)
class Compared:
    """One image through every backend."""
    gallery: list            # [(overlay or the upload, caption)]
    seconds: dict            # backend -> seconds, for the backends that computed the map
    largest_difference: float  # max |map_a - map_b| over pairs of backends (NaN if < 2)
    layer: str


def digest(rgb):
    """A content key for an RGB array (uploads of an example are copies of it)."""
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


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
            masks[digest(rgb)] = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE) > 127
    return paths, masks


class App:
    """The loaded model and everything the handlers need; loads once, warms up once."""

    def __init__(self, model_path, examples_dir=None):
        self.model_path = model_path
        self.model, self.card = modelcard.load(model_path)
        self.size = int(self.card.input_size[0])
        self.classes = list(self.card.class_names)
        self.layers = cams.conv_layers(self.model)
        recorded = self.card.cam_layer
        self.default_layer = recorded if recorded in self.layers else self.layers[-1]
        self.examples, self.masks = examples_in(examples_dir) if examples_dir else ([], {})

    def warm_up(self):
        """Trace and build every backend once, so the first click does not stall."""
        x = np.zeros((1, self.size, self.size, 3), np.float32)
        for backend in cams.BACKENDS:
            cams.explain(self.model, self.card.preprocess(x), layer=self.default_layer,
                         backend=backend)

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

    def probabilities(self, outputs):
        """{class name: probability} of one image's outputs (a single sigmoid unit: 1-p, p)."""
        p = np.asarray(outputs[0], np.float64)
        if len(p) == 1:
            p = np.array([1 - p[0], p[0]])
        return {name: float(v) for name, v in zip(self.classes, p)}

    def explain(self, path, backend="eager", method="gradcam", layer=None, target=PREDICTED,
                alpha=0.4, colormap="jet", conventions=False, top_k=0):
        """Explained for one uploaded image."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap, backend)
        options = self.options(method, backend, conventions, top_k)
        image = read_upload(path)
        rgb = np.asarray(image)
        start = time.perf_counter()
        res = cams.explain(self.model, self._batch(image), layer=layer,
                           class_index=self._target(target), method=method, backend=backend,
                           **options)
        seconds = time.perf_counter() - start
        heat = res.heatmaps[0]
        over = cams.overlay(rgb, heat, alpha=float(alpha), colormap=colormap)
        mask = self.masks.get(digest(rgb))
        if mask is not None:
            over = outline(over, mask)
        raw = cv2.resize(cams.colorize(heat, colormap), (256, 256), interpolation=cv2.INTER_NEAREST)
        return Explained(self.probabilities(res.outputs), over, raw, res,
                         self.classes[int(res.class_index[0])], seconds, mask is not None)

    def compare(self, path, method="gradcam", layer=None, target=PREDICTED, alpha=0.4,
                colormap="jet", conventions=True, top_k=0):
        """Every backend on the same image: Compared.

        With conventions (the default), every backend computes tf-keras-vis' variant of the
        method, so the three can be compared; without, tf-keras-vis says what it cannot do."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap)
        options = self.options(method, "eager", conventions, top_k)
        image = read_upload(path)
        rgb, x, cls = np.asarray(image), self._batch(image), self._target(target)
        maps, gallery, seconds = {}, [], {}
        for backend in cams.BACKENDS:
            start = time.perf_counter()
            try:
                res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                                   backend=backend, **options)
            except ValueError as err:  # a method this backend cannot express
                gallery.append((rgb, f"{backend}: {err}"))
                continue
            seconds[backend] = time.perf_counter() - start
            maps[backend] = res.heatmaps[0]
            gallery.append((cams.overlay(rgb, res.heatmaps[0], float(alpha), colormap),
                            f"{backend} · {seconds[backend] * 1000:.0f} ms"))
        names = list(maps)
        diffs = [float(np.abs(maps[a] - maps[b]).max())
                 for i, a in enumerate(names) for b in names[i + 1:]]
        return Compared(gallery, seconds, max(diffs) if diffs else float("nan"), layer)

    def sweep(self, path, layers, method="gradcam", target=PREDICTED, colormap="jet"):
        """A heatmap per chosen layer: [(overlay, layer path, (h, w))]."""
        if not layers:
            raise BadInput("Choose at least one layer to sweep.")
        for layer in layers:
            self._check(method, layer, 0.5, colormap)
        image = read_upload(path)
        rgb, x, cls = np.asarray(image), self._batch(image), self._target(target)
        options = self.options(method, "eager", top_k=16 if method == "scorecam" else 0)
        found = []
        for layer in layers:
            res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                               **options)
            found.append((cams.overlay(rgb, res.heatmaps[0], 0.5, colormap), layer,
                          res.heatmaps.shape[1:]))
        return found
