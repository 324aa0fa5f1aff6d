"""The gr.Blocks page: one function per tab; each button's endpoint is a named function whose
parameters are the API's names, and which only turns a handler's data into the outputs.

Every button first clears what it will fill (a private, unqueued event), then runs its endpoint:
when the endpoint fails, the person sees the error over empty outputs, never over the previous
image's result. The same holds when a new file is chosen.
"""
import os

import gradio as gr
import numpy as np

import cams
from cams.io import overlays
from cams.app import text
from cams.app.downloads import Downloads
from cams.app.handlers import COLORMAPS, PREDICTED
from cams.app.imagenet import ImageNetDemo
from cams.app.serving import HEAVY, guard  # guard: errors to gr.Error, one log line each
from cams.app.uploads import MAX_FILE_SIZE  # noqa: F401  (MAX_FILE_SIZE: launch's)

PREVIEW_SIDE = 1024     # long side of the preview of what the model is shown
SWEEP_LAYERS = 4        # layers a sweep starts with
CLEAR = dict(queue=False, api_visibility="private", show_progress="hidden")


def endpoints(app, imagenet, downloads=None):
    """{api name: function} of every button, with named parameters."""
    downloads = downloads or Downloads()

    def preview(image, window_center=None, window_width=None):
        if image is None:  # the file was removed
            return None, text.UPLOAD_INFO, gr.Slider(visible=False), gr.Slider(visible=False)
        upload = app.preview(image, window_center, window_width)
        return (overlays.shrink(np.asarray(upload.image), PREVIEW_SIDE),
                text.upload_facts(upload), *window_sliders(upload.dicom))

    def explain(image, backend="eager", method="gradcam", layer=None, target=PREDICTED,
                alpha=0.4, colormap="jet", conventions=False, top_k=0, window_center=None,
                window_width=None):
        found = app.explain(image, backend, method, layer, target, alpha, colormap,
                            conventions, top_k, window_center, window_width)
        return (found.probabilities, (found.original, found.overlay), found.raw,
                downloads.write(found), text.explained_line(found))

    def trust(image, backend="eager", method="gradcam", layer=None, target=PREDICTED,
              conventions=False, top_k=0, window_center=None, window_width=None):
        found = app.trust(image, backend, method, layer, target, conventions, top_k,
                          window_center, window_width)
        return text.trust_figure(found), text.trust_summary(found)

    def compare(image, method="gradcam", layer=None, target=PREDICTED, conventions=True,
                alpha=0.4, colormap="jet", window_center=None, window_width=None):
        found = app.compare(image, method, layer, target, alpha, colormap, conventions,
                            window_center=window_center, window_width=window_width)
        return found.gallery, text.compare_summary(found)

    def sweep(image, layers, method="gradcam", window_center=None, window_width=None):
        return [(overlay, text.sweep_caption(layer, shape)) for overlay, layer, shape in
                app.sweep(image, layers, method, window_center=window_center,
                          window_width=window_width)]

    def imagenet_explain(image, class_index=251):
        return imagenet.run(image, class_index)

    return {"preview": preview, "explain": explain, "trust": trust, "compare": compare,
            "sweep": sweep, "imagenet": imagenet_explain}


def window_sliders(facts):
    """Updates for the window centre and width sliders: hidden for an image, else the file's
    range and the window applied."""
    if facts is None:
        return gr.Slider(visible=False), gr.Slider(visible=False)
    return (gr.Slider(*facts.center_range, value=facts.center, step=facts.step, visible=True),
            gr.Slider(*facts.width_range, value=facts.width, step=facts.step, visible=True))


def titled(head):
    """An event function (target, the probabilities shown) -> the Label titled with the class
    the map explains: the chosen target, or the predicted class, which the Label lists first
    (on a tie too: cams and the Label both take the lowest index). The API's /explain keeps
    returning the probabilities alone."""
    def title(target, shown):
        if not shown:
            return gr.Label(label=text.PROBABILITIES.get(head, "Outputs"))
        explained = next(iter(shown)) if target == PREDICTED else target
        return gr.Label(label=text.probabilities_title(head, explained))
    return title


def cleared(outputs):
    """An event function that empties `outputs`."""
    return lambda: tuple(None for _ in outputs) if len(outputs) > 1 else None


class XrayInput:
    """One tab's upload: the file (image or DICOM), a preview of what the model is shown, what
    the file is, and, with `window`, DICOM window sliders. `window` holds the endpoints' window
    inputs: hidden numbers, None for the file's own window, so the API needs no slider range."""

    def __init__(self, elem_id, label=text.UPLOAD_LABEL, examples=(), window=True):
        self.file = gr.File(label=label, type="binary", elem_id=elem_id, height=120)
        self.preview = gr.Image(label="What the model is shown", interactive=False, height=260,
                                format="png", elem_id=f"{elem_id}-preview",
                                buttons=["fullscreen"])
        self.facts = gr.Markdown(text.UPLOAD_INFO, label="What the file is",
                                 elem_id=f"{elem_id}-facts")
        self.sliders, self.window = [], []
        if window:
            with gr.Row():
                self.sliders = [
                    gr.Slider(label="Window centre", visible=False, info=text.WINDOW_INFO,
                              elem_id=f"{elem_id}-center"),
                    gr.Slider(1, 2, label="Window width", visible=False,
                              elem_id=f"{elem_id}-width")]
            self.window = [gr.Number(None, visible=False), gr.Number(None, visible=False)]
        if examples:
            labels = [f"{os.path.basename(os.path.dirname(p))} {os.path.basename(p)[:-4]}"
                      for p in examples]
            gr.Examples(examples, inputs=self.file, example_labels=labels,
                        label="Synthetic examples")

    def wire(self, preview, outputs, redo=None, api_name=None):
        """A new file empties `outputs` and the window, then shows the preview (the endpoint
        `api_name`, private if None). A moved slider empties `outputs`, redraws the preview
        and then, with `redo` (an event's keywords: fn, inputs, outputs, ...), the result."""
        shown = [self.preview, self.facts] + self.sliders
        if not self.sliders:
            def photo_preview(image):
                return preview(image)[:2]
            preview = photo_preview
        visibility = dict(api_name=api_name) if api_name else dict(api_visibility="private")
        n, emptied = len(outputs), outputs + [self.preview, self.facts] + self.window
        empty = (None,) * n + (None, text.UPLOAD_INFO) + (None,) * len(self.window)
        self.file.change(lambda: empty, None, emptied, **CLEAR).then(
            guard(preview), [self.file] + self.window, shown, show_progress_on=self.preview,
            **visibility)
        for slider in self.sliders:
            moved = slider.release(lambda c, w: (c, w) + (None,) * n, self.sliders,
                                   self.window + outputs, **CLEAR)
            moved = moved.then(guard(preview), [self.file] + self.window, shown,
                               show_progress_on=self.preview, api_visibility="private")
            if redo is not None:
                moved.success(api_visibility="private", **redo)


def explain_tab(app, targets, explain, trust, preview):
    with gr.Tab("Explain"):
        with gr.Row():
            with gr.Column(scale=1):
                xray = XrayInput("xray-input", examples=app.examples)
                with gr.Row():
                    backend = gr.Dropdown(list(cams.BACKENDS), value="eager", label="Backend")
                    method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                with gr.Row():
                    conventions = gr.Checkbox(False, label="tf-keras-vis conventions",
                                              info=text.CONVENTIONS_INFO)
                    top_k = gr.Number(0, precision=0, minimum=0, label="Score-CAM top k",
                                      info="0 = every channel")
                layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                with gr.Row():
                    target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                    colormap = gr.Dropdown(list(COLORMAPS), value="jet", label="Colormap")
                alpha = gr.Slider(0, 1, value=0.4, step=0.05, label="Heatmap opacity (alpha)")
                button = gr.Button("Explain", variant="primary", elem_id="explain-button")
            with gr.Column(scale=1):
                label = gr.Label(label=text.PROBABILITIES.get(app.head, "Outputs"),
                                 elem_id="probabilities")
                slider = gr.ImageSlider(label="Original | Grad-CAM overlay (drag the handle)",
                                        type="numpy", format="png", elem_id="overlay")
                timing = gr.Markdown(label="How it was explained", elem_id="timing")
                with gr.Row():
                    raw = gr.Image(label="Raw map, at its own resolution", format="png",
                                   height=220, scale=1, min_width=180)
                    files = gr.File(label="Downloads: overlay, heatmap (.npy), record (.json)",
                                    file_count="multiple", interactive=False, height=220,
                                    scale=2, elem_id="downloads")
                trust_button = gr.Button("Can I trust this map?", elem_id="trust-button")
                plot = gr.Plot(label="Deletion and insertion curves", elem_id="trust-plot")
                verdict = gr.Markdown(text.TRUST_INFO, label="Trust summary",
                                      elem_id="trust-text")
        inputs = [xray.file, backend, method, layer, target, alpha, colormap, conventions,
                  top_k] + xray.window
        outputs = [label, slider, raw, files, timing]
        checks = [plot, verdict]
        button.click(cleared(outputs + checks), None, outputs + checks, **CLEAR).then(
            guard(explain), inputs, outputs, api_name="explain").then(
            titled(app.head), [target, label], label, **CLEAR)
        trust_button.click(cleared(checks), None, checks, **CLEAR).then(
            guard(trust), [xray.file, backend, method, layer, target, conventions, top_k]
            + xray.window, checks, api_name="trust", **HEAVY)
        # after the buttons, so that the public endpoints keep their names
        xray.wire(preview, outputs + checks,
                  dict(fn=guard(explain), inputs=inputs, outputs=outputs), "preview")


def compare_tab(app, targets, compare, preview):
    with gr.Tab("Compare backends"):
        with gr.Row():
            with gr.Column(scale=1):
                xray = XrayInput("compare-input", examples=app.examples)
            with gr.Column(scale=2):
                with gr.Row():
                    method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                    layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                    target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                with gr.Row():
                    conventions = gr.Checkbox(True, label="tf-keras-vis conventions",
                                              info=text.CONVENTIONS_INFO)
                    alpha = gr.Slider(0, 1, value=0.4, step=0.05,
                                      label="Heatmap opacity (alpha)")
                    colormap = gr.Dropdown(list(COLORMAPS), value="jet", label="Colormap")
                button = gr.Button("Compare", variant="primary", elem_id="compare-button")
                gallery = gr.Gallery(label="eager · graph · tf-keras-vis", columns=3,
                                     height=360, object_fit="contain", elem_id="compare-gallery")
                summary = gr.Markdown(label="Differences and times", elem_id="compare-summary")
        inputs = [xray.file, method, layer, target, conventions, alpha, colormap] + xray.window
        outputs = [gallery, summary]
        button.click(cleared(outputs), None, outputs, **CLEAR).then(
            guard(compare), inputs, outputs, api_name="compare", **HEAVY)
        xray.wire(preview, outputs, dict(fn=guard(compare), inputs=inputs, outputs=outputs,
                                         **HEAVY))


def sweep_tab(app, sweep, preview):
    step = max(1, len(app.layers) // SWEEP_LAYERS)
    default = app.layers[-1::-step][:SWEEP_LAYERS][::-1]
    with gr.Tab("Layer sweep"):
        with gr.Row():
            with gr.Column(scale=1):
                xray = XrayInput("sweep-input", examples=app.examples)
            with gr.Column(scale=2):
                layers = gr.Dropdown(text.layer_choices(app.layers), value=default,
                                     multiselect=True,
                                     label="Layers", elem_id="sweep-layers",
                                     info=f"{len(app.layers)} spatial layers; type to filter")
                method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                button = gr.Button("Sweep", variant="primary", elem_id="sweep-button")
                gallery = gr.Gallery(label="Which layer explains best?", columns=4, height=260,
                                     object_fit="contain", elem_id="sweep-gallery")
        inputs = [xray.file, layers, method] + xray.window
        button.click(cleared([gallery]), None, gallery, **CLEAR).then(
            guard(sweep), inputs, gallery, api_name="sweep", **HEAVY)
        xray.wire(preview, [gallery], dict(fn=guard(sweep), inputs=inputs, outputs=[gallery],
                                           **HEAVY))


def imagenet_tab(imagenet_explain, preview, note=None):
    with gr.Tab("ImageNet (Chollet's VGG16)"):
        gr.Markdown("Deep Learning with Python's recipe: VGG16 with ImageNet weights, "
                    "class 251 (dalmatian) by default. "
                    + (note or "It needs the network to fetch weights."))
        with gr.Row():
            with gr.Column(scale=1):
                photo = XrayInput("imagenet-input", label="Photo", window=False)
            with gr.Column(scale=1):
                class_index = gr.Number(value=251, precision=0, minimum=0, maximum=999,
                                        label="ImageNet class index")
                button = gr.Button("Explain", variant="primary")
                label = gr.Label(label="Top-3")
                overlay = gr.Image(label="Grad-CAM (block5_conv3)", format="png")
        outputs = [label, overlay]
        button.click(cleared(outputs), None, outputs, **CLEAR).then(
            guard(imagenet_explain), [photo.file, class_index], outputs, api_name="imagenet",
            **HEAVY)
        photo.wire(preview, outputs)


def build(app, imagenet=None, imagenet_note=None):
    """The gr.Blocks app over a handlers.App."""
    calls = endpoints(app, imagenet or ImageNetDemo())
    targets = [PREDICTED] + app.classes
    with gr.Blocks(title="cams — Grad-CAM X-ray demo", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as blocks:
        gr.Markdown("# Grad-CAM for Keras — chest X-ray demo")
        gr.Markdown(text.NOTE)
        gr.Markdown(text.model_note(app))
        explain_tab(app, targets, calls["explain"], calls["trust"], calls["preview"])
        compare_tab(app, targets, calls["compare"], calls["preview"])
        sweep_tab(app, calls["sweep"], calls["preview"])
        imagenet_tab(calls["imagenet"], calls["preview"], imagenet_note)
        if app.examples_dir:
            from cams.app.audit_tab import audit_tab
            from cams.app.audits import Audits

            blocks.load(**audit_tab(Audits(app)))
    return blocks
