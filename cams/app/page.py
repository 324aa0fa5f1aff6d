"""The gr.Blocks page: one function per tab; each button's endpoint is a named function whose
parameters are the API's names, and which only turns a handler's data into the outputs."""
import functools

import gradio as gr

import cams
from cams.app import text
from cams.app.handlers import COLORMAPS, PREDICTED
from cams.app.imagenet import ImageNetDemo
from cams.app.uploads import BadInput, MAX_FILE_SIZE  # noqa: F401  (MAX_FILE_SIZE: launch's)


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


def guard(fn):
    """Turn BadInput and cams' ValueErrors into gr.Error: the person sees why, the app serves on."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (BadInput, ValueError, TypeError) as err:
            raise gr.Error(str(err)) from None
    return wrapped


def endpoints(app, imagenet):
    """{api name: function} of every button, with named parameters."""
    def explain(image, backend="eager", method="gradcam", layer=None, target=PREDICTED,
                alpha=0.4, colormap="jet", conventions=False, top_k=0):
        found = app.explain(image, backend, method, layer, target, alpha, colormap,
                            conventions, top_k)
        return found.probabilities, found.overlay, found.raw, text.explained_line(found)

    def compare(image, method="gradcam", layer=None, target=PREDICTED, conventions=True):
        found = app.compare(image, method, layer, target, conventions=conventions)
        return found.gallery, text.compare_summary(found)

    def sweep(image, layers, method="gradcam"):
        return [(overlay, text.sweep_caption(layer, shape))
                for overlay, layer, shape in app.sweep(image, layers, method)]

    def imagenet_explain(image, class_index=251):
        return imagenet.run(image, class_index)

    return {"explain": explain, "compare": compare, "sweep": sweep, "imagenet": imagenet_explain}


def explain_tab(app, targets, explain):
    with gr.Tab("Explain"):
        with gr.Row():
            with gr.Column():
                image = ImageUpload(type="filepath", label="X-ray", image_mode=None,
                                    elem_id="xray-input")
                backend = gr.Dropdown(list(cams.BACKENDS), value="eager", label="Backend")
                method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                with gr.Row():
                    conventions = gr.Checkbox(False, label="tf-keras-vis conventions",
                                              info=text.CONVENTIONS_INFO)
                    top_k = gr.Number(0, precision=0, minimum=0, label="Score-CAM top k",
                                      info="0 = every channel")
                layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                alpha = gr.Slider(0, 1, value=0.4, step=0.05, label="Heatmap opacity (alpha)")
                colormap = gr.Dropdown(list(COLORMAPS), value="jet", label="Colormap")
                button = gr.Button("Explain", variant="primary", elem_id="explain-button")
            with gr.Column():
                label = gr.Label(label="Class probabilities", elem_id="probabilities")
                overlay = gr.Image(label="Grad-CAM overlay", elem_id="overlay", format="png")
                raw = gr.Image(label="Raw heatmap (layer resolution; input resolution for "
                                     "the guided methods)", format="png")
                timing = gr.Markdown(elem_id="timing")
        if app.examples:
            gr.Examples(app.examples, inputs=image, label="Synthetic examples")
        button.click(guard(explain), [image, backend, method, layer, target, alpha, colormap,
                                      conventions, top_k],
                     [label, overlay, raw, timing], api_name="explain")


def compare_tab(app, targets, compare):
    with gr.Tab("Compare backends"):
        with gr.Row():
            image = ImageUpload(type="filepath", label="X-ray", image_mode=None)
            with gr.Column():
                method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
                layer = gr.Dropdown(app.layers, value=app.default_layer, label="Layer")
                target = gr.Dropdown(targets, value=PREDICTED, label="Target class")
                conventions = gr.Checkbox(True, label="tf-keras-vis conventions",
                                          info=text.CONVENTIONS_INFO)
                button = gr.Button("Compare", variant="primary")
        gallery = gr.Gallery(label="eager · graph · tf-keras-vis", columns=3)
        summary = gr.Markdown()
        if app.examples:
            gr.Examples(app.examples, inputs=image)
        button.click(guard(compare), [image, method, layer, target, conventions],
                     [gallery, summary], api_name="compare")


def sweep_tab(app, sweep):
    default = app.layers[-1::-max(1, len(app.layers) // 4)][:4]
    with gr.Tab("Layer sweep"):
        with gr.Row():
            image = ImageUpload(type="filepath", label="X-ray", image_mode=None)
            layers = gr.CheckboxGroup(app.layers, value=default, label="Layers")
            method = gr.Dropdown(list(cams.METHODS), value="gradcam", label="Method")
        button = gr.Button("Sweep", variant="primary")
        gallery = gr.Gallery(label="Which layer explains best?", columns=4)
        if app.examples:
            gr.Examples(app.examples, inputs=image)
        button.click(guard(sweep), [image, layers, method], gallery, api_name="sweep")


def imagenet_tab(imagenet_explain):
    with gr.Tab("ImageNet (Chollet's VGG16)"):
        gr.Markdown("Deep Learning with Python's recipe: VGG16 with ImageNet weights, "
                    "class 251 (dalmatian) by default. It needs the network to fetch weights.")
        with gr.Row():
            image = ImageUpload(type="filepath", label="Photo")
            with gr.Column():
                class_index = gr.Number(value=251, precision=0, minimum=0, maximum=999,
                                        label="ImageNet class index")
                button = gr.Button("Explain", variant="primary")
                label = gr.Label(label="Top-3")
        overlay = gr.Image(label="Grad-CAM (block5_conv3)")
        button.click(guard(imagenet_explain), [image, class_index], [label, overlay],
                     api_name="imagenet")


def build(app, imagenet=None):
    """The gr.Blocks app over a handlers.App."""
    calls = endpoints(app, imagenet or ImageNetDemo())
    targets = [PREDICTED] + app.classes
    with gr.Blocks(title="cams — Grad-CAM X-ray demo", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as blocks:
        gr.Markdown("# Grad-CAM for Keras — chest X-ray demo")
        gr.Markdown(text.NOTE)
        gr.Markdown(text.model_note(app))
        explain_tab(app, targets, calls["explain"])
        compare_tab(app, targets, calls["compare"])
        sweep_tab(app, calls["sweep"])
        imagenet_tab(calls["imagenet"])
    return blocks
