"""Gradio app: Grad-CAM on a chest X-ray classifier, with every cams backend and method.

    python demo.py [--model PATH] [--port N]

Serves on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT respected). The default model
was trained on synthetic X-rays: it demonstrates the method and is not for diagnosis.
"""
import argparse
import glob
import hashlib
import os
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import cams  # noqa: E402
from cams.backends.tfkv import CONVENTIONS  # noqa: E402
from cams.methods import METHODS as METHOD_INFO  # noqa: E402
from train import data, modelinfo, preprocess  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "models", "xray_phantoms.keras")
EXAMPLES_DIR = os.path.join(HERE, "models", "examples")
MAX_PIXELS = 40_000_000     # larger uploads are refused before decoding
MIN_SIDE = 16
MAX_FILE_SIZE = "25mb"
COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "gray")
PREDICTED = "predicted class"

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # PIL refuses decompression bombs beyond this


class BadInput(ValueError):
    """An upload or a choice the app cannot use; its message is shown to the person."""


def read_upload(path):
    """An uploaded file as PIL RGB, or BadInput saying what is wrong and what is accepted."""
    if path is None:
        raise BadInput("Upload an image first (PNG or JPEG; grayscale, RGB, RGBA or 16-bit).")
    if not os.path.isfile(path):
        raise BadInput("The upload did not arrive. Upload the image again (PNG or JPEG).")
    if os.path.getsize(path) == 0:
        raise BadInput("The uploaded file is empty. Upload a PNG or JPEG image.")
    try:
        with Image.open(path) as probe:
            width, height = probe.size
    except Image.DecompressionBombError:
        raise BadInput(f"The image is too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:
        raise BadInput("This file is not an image this app can read. Upload a PNG or JPEG.") from None
    if width * height > MAX_PIXELS:
        raise BadInput(f"The image is {width}x{height}: too large. Upload one of at most "
                       f"{MAX_PIXELS // 1_000_000} megapixels.")
    if min(width, height) < MIN_SIDE:
        raise BadInput(f"The image is {width}x{height}: too small to explain. Upload one of at "
                       f"least {MIN_SIDE}x{MIN_SIDE} pixels.")
    try:
        return data.read_rgb(path)
    except Exception:
        raise BadInput("The image file is corrupt or truncated. Upload a complete PNG or JPEG.") from None


class ImageUpload(gr.Image):
    """gr.Image that hands a file it cannot decode to the handler, which explains what is wrong
    (gr.Image's own decoding error names the component, not the problem)."""

    @classmethod
    def get_block_name(cls):
        return "image"  # the front end is gr.Image's

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception:
            return getattr(payload, "path", None) if payload is not None else None


def _digest(rgb):
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


class App:
    """The loaded model and everything the handlers need; loads once, warms up once."""

    def __init__(self, model_path=DEFAULT_MODEL, examples_dir=EXAMPLES_DIR):
        self.model_path = model_path
        self.model, self.info, self.notes = modelinfo.load(model_path)
        self.size = int(self.info["input_size"][0])
        self.classes = list(self.info["class_names"])
        self.prep = preprocess.get(self.info["preprocessing"])
        self.layers = cams.conv_layers(self.model)
        recorded = self.info.get("cam_layer")
        self.default_layer = recorded if recorded in self.layers else self.layers[-1]
        self.examples, self.masks = self._examples(examples_dir)

    def _examples(self, folder):
        """Shipped example paths, and lesion masks by image content (uploads are copies)."""
        paths = sorted(glob.glob(os.path.join(folder, "*", "*.png")))
        paths = [p for p in paths if os.sep + data.MASKS_DIR + os.sep not in p]
        masks = {}
        for path in paths:
            rel = os.path.relpath(path, folder)
            mask_path = os.path.join(folder, data.MASKS_DIR, rel)
            if os.path.isfile(mask_path):
                rgb = np.asarray(data.read_rgb(path))
                masks[_digest(rgb)] = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE) > 127
        return paths, masks

    def warm_up(self):
        """Trace and build every backend once, so the first click does not stall."""
        x = np.zeros((1, self.size, self.size, 3), np.float32)
        for backend in cams.BACKENDS:
            cams.explain(self.model, self.prep(x), layer=self.default_layer, backend=backend)

    def model_note(self):
        """What is loaded, and what was assumed where its .json said nothing."""
        text = (f"**Model:** `{os.path.basename(self.model_path)}` — classes: "
                f"{', '.join(self.classes)}; input {self.size}x{self.size}; preprocessing: "
                f"{preprocess.describe(self.info['preprocessing'])}.")
        if self.notes:
            text += " **Defaults used (no .json beside the model):** " + "; ".join(self.notes) + "."
        return text

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
            raise BadInput(f"Unknown layer {layer!r}; choose one from the list.")
        if colormap not in COLORMAPS:
            raise BadInput(f"Unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}.")
        if alpha is None or not 0 <= float(alpha) <= 1:
            raise BadInput("Alpha must be between 0 and 1.")

    @staticmethod
    def _options(method, backend, conventions=False, top_k=0):
        """The method's options: tf-keras-vis' conventions where asked for (always in its own
        backend, which computes nothing else), and Score-CAM's top k channels (0 = all)."""
        options = {}
        if conventions or backend == "tf-keras-vis":
            options.update(CONVENTIONS.get(method, {}))
        if method == "scorecam":
            try:
                k = int(top_k or 0)
            except (TypeError, ValueError):
                raise BadInput(f"Top k must be a whole number (0 for every channel); got {top_k!r}.") from None
            if k < 0:
                raise BadInput("Top k must be 0 (every channel) or a positive number of channels.")
            options["top_k"] = k or None
        return options

    def _batch(self, rgb):
        small = data.resize(rgb, self.size)
        return self.prep(small[None].astype(np.float32))

    def _probabilities(self, outputs):
        p = np.asarray(outputs[0], np.float64)
        if len(p) == 1:
            p = np.array([1 - p[0], p[0]])
        return {name: float(v) for name, v in zip(self.classes, p)}

    def explain(self, path, backend="eager", method="gradcam", layer=None, target=PREDICTED,
                alpha=0.4, colormap="jet", conventions=False, top_k=0):
        """(probabilities, overlay RGB, raw heatmap RGB, timing text) for one uploaded image."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap, backend)
        options = self._options(method, backend, conventions, top_k)
        image = read_upload(path)
        rgb = np.asarray(image)
        start = time.perf_counter()
        res = cams.explain(self.model, self._batch(image), layer=layer,
                           class_index=self._target(target), method=method, backend=backend,
                           **options)
        seconds = time.perf_counter() - start
        heat = res.heatmaps[0]
        over = cams.overlay(rgb, heat, alpha=float(alpha), colormap=colormap)
        mask = self.masks.get(_digest(rgb))
        if mask is not None:
            over = outline(over, mask)
        raw = cv2.resize(cams.colorize(heat, colormap), (256, 256), interpolation=cv2.INTER_NEAREST)
        explained = self.classes[int(res.class_index[0])]
        shown = {k: v for k, v in res.options.items() if v is not None}
        timing = (f"{backend} · {method} ({METHOD_INFO[method].summary}"
                  + (f"; {shown}" if shown else "") + f") · layer `{res.layer}` · score "
                  f"{res.score} · class **{explained}** · {seconds * 1000:.0f} ms"
                  + (" · true lesion outlined in white" if mask is not None else ""))
        return self._probabilities(res.outputs), over, raw, timing

    def compare(self, path, method="gradcam", layer=None, target=PREDICTED, alpha=0.4,
                colormap="jet", conventions=True, top_k=0):
        """Every backend on the same image: (overlays with captions, summary Markdown).

        With conventions (the default), every backend computes tf-keras-vis' variant of the
        method, so the three can be compared; without, tf-keras-vis says what it cannot do."""
        layer = layer or self.default_layer
        self._check(method, layer, alpha, colormap)
        options = self._options(method, "eager", conventions, top_k)
        image = read_upload(path)
        rgb, x, cls = np.asarray(image), self._batch(image), self._target(target)
        maps, gallery, times = {}, [], {}
        for backend in cams.BACKENDS:
            start = time.perf_counter()
            try:
                res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                                   backend=backend, **options)
            except ValueError as err:  # a method this backend cannot express
                gallery.append((rgb, f"{backend}: {err}"))
                continue
            times[backend] = time.perf_counter() - start
            maps[backend] = res.heatmaps[0]
            gallery.append((cams.overlay(rgb, res.heatmaps[0], float(alpha), colormap),
                            f"{backend} · {times[backend] * 1000:.0f} ms"))
        names = list(maps)
        rows = ["| backend | time (ms) |", "|---|---:|"] + [
            f"| {b} | {times[b] * 1000:.0f} |" for b in names]
        diffs = [float(np.abs(maps[a] - maps[b]).max())
                 for i, a in enumerate(names) for b in names[i + 1:]]
        largest = max(diffs) if diffs else float("nan")
        summary = (f"**Largest pixel difference between backends:** {largest:.2e} "
                   f"(heatmaps in [0, 1], layer `{layer}`)\n\n" + "\n".join(rows))
        return gallery, summary

    def sweep(self, path, layers, method="gradcam", target=PREDICTED, colormap="jet"):
        """A heatmap per chosen layer: [(overlay, caption)]."""
        if not layers:
            raise BadInput("Choose at least one layer to sweep.")
        for layer in layers:
            self._check(method, layer, 0.5, colormap)
        image = read_upload(path)
        rgb, x, cls = np.asarray(image), self._batch(image), self._target(target)
        options = self._options(method, "eager", top_k=16 if method == "scorecam" else 0)
        gallery = []
        for layer in layers:
            res = cams.explain(self.model, x, layer=layer, class_index=cls, method=method,
                               **options)
            h, w = res.heatmaps.shape[1:]
            gallery.append((cams.overlay(rgb, res.heatmaps[0], 0.5, colormap), f"{layer} ({h}x{w})"))
        return gallery


def outline(rgb, mask):
    """The mask's outline drawn in white over an RGB image of any size."""
    mask = cv2.resize(mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                      interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = rgb.copy()
    cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, rgb.shape[0] // 224))
    return out


class ImageNetDemo:
    """Chollet's VGG16 recipe on a photo; says in one sentence when weights cannot be had."""

    def __init__(self):
        self.failure = None

    def run(self, path, class_index=251):
        from reference import chollet_vgg16

        if self.failure:
            raise BadInput(self.failure)
        image = read_upload(path)
        x = chollet_vgg16.preprocess_input(data.resize(image, 224)[None].astype(np.float32))
        try:
            heatmap, preds = chollet_vgg16.gradcam(x, "imagenet", int(class_index))
            top = chollet_vgg16.decode_predictions(preds, top=3)[0]
        except Exception as err:  # no network: the weights or the class index cannot be fetched
            self.failure = ("The ImageNet VGG16 weights cannot be downloaded on this machine "
                            f"(no network access: {type(err).__name__}), so this tab cannot run here.")
            raise BadInput(self.failure) from None
        over = cams.overlay(np.asarray(image), heatmap)
        return {name: float(p) for _, name, p in top}, over


def _guard(fn):
    """Turn BadInput and cams' ValueErrors into gr.Error: the person sees why, the app serves on."""
    def wrapped(*args):
        try:
            return fn(*args)
        except (BadInput, ValueError, TypeError) as err:
            raise gr.Error(str(err)) from None
    wrapped.__name__ = fn.__name__
    return wrapped


CONVENTIONS_INFO = ("Grad-CAM++ with alphas normalized, Score-CAM with align-corners upsampling, "
                    "as tf-keras-vis computes them (the papers' forms otherwise)")
NOTE = """**Not for diagnosis.** The default model was trained on synthetic chest X-rays
(phantoms with known lesion masks) to show how Grad-CAM behaves; it has never seen a patient.
Train your own with `python -m train --data DIR --backbone mobilenetv2 --out models/mine.keras`
and load it with `python demo.py --model models/mine.keras` (or `MODEL_PATH=...`)."""


def build(app, imagenet=None):
    """The gr.Blocks app over `app`."""
    imagenet = imagenet or ImageNetDemo()
    targets = [PREDICTED] + app.classes
    sweep_default = app.layers[-1::-max(1, len(app.layers) // 4)][:4]
    with gr.Blocks(title="cams — Grad-CAM X-ray demo", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as blocks:
        gr.Markdown("# Grad-CAM for Keras — chest X-ray demo")
        gr.Markdown(NOTE)
        gr.Markdown(app.model_note())
        with gr.Tab("Explain"):
            with gr.Row():
                with gr.Column():
                    image = ImageUpload(type="filepath", label="X-ray", image_mode=None,
                                     elem_id="xray-input")
                    backend = gr.Dropdown(list(cams.BACKENDS), value="eager", label="Backend")
                    method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                    with gr.Row():
                        conventions = gr.Checkbox(False, label="tf-keras-vis conventions",
                                                  info=CONVENTIONS_INFO)
                        top_k = gr.Number(0, precision=0, minimum=0, label="Score-CAM top k",
                                          info="0 = every channel")
                    layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                    target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                    alpha = gr.Slider(0, 1, value=0.4, step=0.05, label="Heatmap opacity (alpha)")
                    colormap = gr.Dropdown(list(COLORMAPS), value="jet", label="Colormap")
                    button = gr.Button("Explain", variant="primary", elem_id="explain-button")
                with gr.Column():
                    label = gr.Label(label="Class probabilities", elem_id="probabilities")
                    overlay = gr.Image(label="Grad-CAM overlay", elem_id="overlay",
                                       format="png")
                    raw = gr.Image(label="Raw heatmap (layer resolution; input resolution for "
                                         "the guided methods)", format="png")
                    timing = gr.Markdown(elem_id="timing")
            if app.examples:
                gr.Examples(app.examples, inputs=image, label="Synthetic examples")
            button.click(_guard(app.explain), [image, backend, method, layer, target, alpha,
                                               colormap, conventions, top_k],
                         [label, overlay, raw, timing], api_name="explain")
        with gr.Tab("Compare backends"):
            with gr.Row():
                c_image = ImageUpload(type="filepath", label="X-ray", image_mode=None)
                with gr.Column():
                    c_method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                    c_layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                    c_target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                    c_conventions = gr.Checkbox(True, label="tf-keras-vis conventions",
                                                info=CONVENTIONS_INFO)
                    c_button = gr.Button("Compare", variant="primary")
            c_gallery = gr.Gallery(label="eager · graph · tf-keras-vis", columns=3)
            c_summary = gr.Markdown()
            if app.examples:
                gr.Examples(app.examples, inputs=c_image)
            c_button.click(_guard(lambda p, m, l, t, c: app.compare(p, m, l, t, conventions=c)),
                           [c_image, c_method, c_layer, c_target, c_conventions],
                           [c_gallery, c_summary], api_name="compare")
        with gr.Tab("Layer sweep"):
            with gr.Row():
                s_image = ImageUpload(type="filepath", label="X-ray", image_mode=None)
                s_layers = gr.CheckboxGroup(app.layers, value=sweep_default, label="Layers")
                s_method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
            s_button = gr.Button("Sweep", variant="primary")
            s_gallery = gr.Gallery(label="Which layer explains best?", columns=4)
            if app.examples:
                gr.Examples(app.examples, inputs=s_image)
            s_button.click(_guard(lambda p, ls, m: app.sweep(p, ls, m)),
                           [s_image, s_layers, s_method], s_gallery, api_name="sweep")
        with gr.Tab("ImageNet (Chollet's VGG16)"):
            gr.Markdown("Deep Learning with Python's recipe: VGG16 with ImageNet weights, "
                        "class 251 (dalmatian) by default. It needs the network to fetch weights.")
            with gr.Row():
                i_image = ImageUpload(type="filepath", label="Photo")
                with gr.Column():
                    i_class = gr.Number(value=251, precision=0, minimum=0, maximum=999,
                                        label="ImageNet class index")
                    i_button = gr.Button("Explain", variant="primary")
                    i_label = gr.Label(label="Top-3")
            i_overlay = gr.Image(label="Grad-CAM (block5_conv3)")
            i_button.click(_guard(imagenet.run), [i_image, i_class], [i_label, i_overlay],
                           api_name="imagenet")
    return blocks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("MODEL_PATH", DEFAULT_MODEL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    args = parser.parse_args(argv)
    try:
        app = App(args.model)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: cannot load the model: {err}\n")
    print("Warming up every backend…", flush=True)
    app.warm_up()
    build(app).queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, inbrowser=False,
        max_file_size=MAX_FILE_SIZE, show_error=True)


if __name__ == "__main__":
    main()
