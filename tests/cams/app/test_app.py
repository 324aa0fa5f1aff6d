"""The app's handlers and endpoints, every bad input included, on the shipped model."""
import os
import shutil

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import cams
from cams.app import handlers, imagenet, page
from cams.app.handlers import PREDICTED
from cams.app.uploads import BadInput

MODEL = "models/xray_phantoms.keras"
EXAMPLES = "models/examples"


@pytest.fixture(scope="module")
def app():
    application = handlers.App(MODEL, EXAMPLES)
    application.warm_up()
    return application


@pytest.fixture(scope="module")
def calls(app):
    """The page's endpoints, by API name."""
    return page.endpoints(app, imagenet.ImageNetDemo())


def _png(tmp_path, name, array, mode=None):
    path = tmp_path / name
    (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(path)
    return str(path)


def _opacity_example(app):
    return next(p for p in app.examples if os.sep + "opacity" + os.sep in p)


def test_explain_an_example_with_its_lesion_outlined(app, calls):
    probs, overlay, raw, timing = calls["explain"](_opacity_example(app))
    assert set(probs) == set(app.classes) and sum(probs.values()) == pytest.approx(1, abs=1e-5)
    assert overlay.shape == (224, 224, 3) and overlay.dtype == np.uint8
    assert raw.shape == (256, 256, 3)
    assert "true lesion outlined" in timing
    assert (overlay == 255).all(axis=-1).sum() > 20  # the white outline


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_every_backend_and_target(app, calls, backend):
    path = _opacity_example(app)
    for target in [PREDICTED] + app.classes:
        probs, overlay, raw, timing = calls["explain"](path, backend, "gradcam", app.default_layer,
                                                  target, 0.5, "turbo")
        assert backend in timing and overlay.shape == (224, 224, 3)


@pytest.mark.parametrize("method", cams.METHODS)
def test_every_method_in_the_menu(app, calls, method):
    probs, overlay, raw, timing = calls["explain"](_opacity_example(app), "eager", method,
                                              top_k=8)
    assert overlay.shape == (224, 224, 3) and method in timing
    assert "top_k" in timing if method == "scorecam" else "top_k" not in timing


def test_tf_keras_vis_backend_uses_its_conventions_and_refuses_what_it_lacks(app, calls):
    *_, timing = calls["explain"](_opacity_example(app), "tf-keras-vis", "gradcam++")
    assert "'normalize_alphas': True" in timing
    with pytest.raises(ValueError, match="eager, graph"):
        calls["explain"](_opacity_example(app), "tf-keras-vis", "hirescam")


@pytest.mark.parametrize("top_k", [-1, "many"])
def test_bad_top_k(app, calls, top_k):
    with pytest.raises(BadInput, match="Top k must be"):
        calls["explain"](_opacity_example(app), "eager", "scorecam", top_k=top_k)


@pytest.mark.parametrize("name, array, mode", [
    ("gray.png", np.full((260, 300), 120, np.uint8), None),
    ("rgba.png", np.full((260, 300, 4), 200, np.uint8), None),
    ("deep.png", np.full((260, 300), 40000, np.uint16), None),
    ("photo.jpg", np.full((260, 300, 3), 90, np.uint8), None),
])
def test_uploads_of_any_kind_and_size(app, calls, tmp_path, name, array, mode):
    probs, overlay, _, timing = calls["explain"](_png(tmp_path, name, array, mode))
    assert overlay.shape == (260, 300, 3)
    assert "outlined" not in timing


def _bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not an image")
    good = _png(tmp_path, "good.png", np.zeros((64, 64), np.uint8))
    (tmp_path / "cut.png").write_bytes(open(good, "rb").read()[:60])
    tiny = _png(tmp_path, "tiny.png", np.zeros((1, 1), np.uint8))
    huge = tmp_path / "huge.png"
    Image.new("L", (10000, 10000)).save(huge)
    return {"none": (None, "Upload an image first"),
            "missing": (str(tmp_path / "gone.png"), "did not arrive"),
            "empty": (str(tmp_path / "empty.png"), "empty"),
            "not an image": (str(tmp_path / "notes.png"), "not an image"),
            "corrupt": (str(tmp_path / "cut.png"), "corrupt"),
            "1x1": (tiny, "too small"),
            "10000x10000": (str(huge), "too large")}


def test_bad_uploads_get_clear_errors_and_the_app_keeps_working(app, calls, tmp_path):
    for kind, (path, message) in _bad_files(tmp_path).items():
        with pytest.raises(BadInput, match=message):
            calls["explain"](path)
        with pytest.raises(gr.Error, match=message):  # what the person sees in the page
            page.guard(calls["explain"])(path)
    assert calls["explain"](_opacity_example(app))[1].shape == (224, 224, 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "torch"}, "Unknown backend"), ({"method": "magic"}, "Unknown method"),
    ({"layer": "nope"}, "Unknown layer"), ({"target": "tumour"}, "Unknown target class"),
    ({"colormap": "rainbowz"}, "Unknown colormap"), ({"alpha": 3}, "Alpha must be"),
])
def test_bad_choices(app, calls, kwargs, message):
    with pytest.raises(BadInput, match=message):
        calls["explain"](_opacity_example(app), **kwargs)


def test_compare_shows_all_backends_agreeing(app, calls):
    gallery, summary = calls["compare"](_opacity_example(app))
    assert len(gallery) == len(cams.BACKENDS)
    assert all(img.shape == (224, 224, 3) for img, _ in gallery)
    largest = float(summary.split("backends:** ")[1].split()[0])
    assert largest <= 1e-4
    for backend in cams.BACKENDS:
        assert f"| {backend} |" in summary


def test_compare_a_method_tf_keras_vis_has_and_one_it_lacks(app, calls):
    _, summary = calls["compare"](_opacity_example(app), "gradcam++")
    assert float(summary.split("backends:** ")[1].split()[0]) <= 1e-4
    gallery, summary = calls["compare"](_opacity_example(app), "hirescam")
    assert "tf-keras-vis: method 'hirescam' is not in tf-keras-vis" in gallery[-1][1]
    assert "| tf-keras-vis |" not in summary


def test_layer_sweep(app, calls):
    layers = app.layers[-3:]
    gallery = calls["sweep"](_opacity_example(app), layers)
    assert [caption.split()[0] for _, caption in gallery] == layers
    with pytest.raises(BadInput, match="at least one layer"):
        calls["sweep"](_opacity_example(app), [])
    gallery = calls["sweep"](_opacity_example(app), layers[-1:], "layercam")
    assert len(gallery) == 1


def test_imagenet_tab_says_in_one_sentence_when_weights_are_missing(tmp_path):
    calls = []

    def offline():
        calls.append(1)
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: no network")

    tab = imagenet.ImageNetDemo(load=offline)
    photo = _png(tmp_path, "dog.png", np.zeros((50, 60, 3), np.uint8))
    for _ in range(2):
        with pytest.raises(BadInput, match="ImageNet VGG16 weights cannot be downloaded"):
            tab.run(photo)
    assert len(calls) == 1  # the failure is remembered: no second slow attempt


def test_imagenet_tab_explains_with_the_graph_backend(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    tab = imagenet.ImageNetDemo(load=lambda: keras.applications.VGG16(weights=None))
    photo = _png(tmp_path, "dog.png", np.random.default_rng(0).integers(0, 255, (50, 60, 3),
                                                                        dtype=np.uint8))
    top, overlay = tab.run(photo, 251)
    assert len(top) == 3 and overlay.shape == (50, 60, 3)


def test_model_without_json_uses_stated_defaults(tmp_path):
    from cams.app import text

    shutil.copy(MODEL, tmp_path / "bare.keras")
    bare = handlers.App(str(tmp_path / "bare.keras"))
    assert bare.classes == ["class 0", "class 1"]
    note = text.model_note(bare)
    assert "Defaults used" in note and "pixels 0..255" in note


def test_main_refuses_a_missing_model(capsys):
    import demo

    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--model", "/nonexistent/model.keras"])
    assert exit_info.value.code == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_ui_builds(app):
    blocks = page.build(app)
    assert isinstance(blocks, gr.Blocks)
