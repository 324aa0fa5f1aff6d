"""The app's handlers and endpoints, every bad input included, on the shipped model."""
import os
import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import cams
from cams.app import handlers, imagenet, page, serving
from cams.app.handlers import PREDICTED
from cams.app.uploads import BadInput
from tests.cams.app.files import MODEL, example, save_image

_png = save_image
ACCEPTED = ("PNG, JPEG, TIFF, BMP or GIF", "DICOM")  # every message that lists formats has both


def _opacity_example(app):
    return example(app, "opacity")


def test_explain_an_example_with_its_lesion_outlined(app, calls):
    probs, (original, overlay), raw, files, timing = calls["explain"](_opacity_example(app))
    assert set(probs) == set(app.classes) and sum(probs.values()) == pytest.approx(1, abs=1e-5)
    assert overlay.shape == (224, 224, 3) and overlay.dtype == np.uint8
    np.testing.assert_array_equal(original, np.asarray(Image.open(_opacity_example(app))
                                                       .convert("RGB")))
    assert raw.shape == (256, 256, 3)
    assert "true lesion outlined" in timing
    assert (overlay == 255).all(axis=-1).sum() > 20  # the white outline
    assert (original == 255).all(axis=-1).sum() < (overlay == 255).all(axis=-1).sum()
    assert [os.path.basename(f) for f in files] == [
        "overlay-gradcam-opacity.png", "heatmap-gradcam-opacity.npy",
        "explanation-gradcam-opacity.json"]


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_every_backend_and_target(app, calls, backend):
    path = _opacity_example(app)
    for target in [PREDICTED] + app.classes:
        probs, (_, overlay), raw, _, timing = calls["explain"](
            path, backend, "gradcam", app.default_layer, target, 0.5, "turbo")
        assert backend in timing and overlay.shape == (224, 224, 3)


@pytest.mark.parametrize("method", cams.METHODS)
def test_every_method_in_the_menu(app, calls, method):
    probs, (_, overlay), raw, _, timing = calls["explain"](_opacity_example(app), "eager",
                                                            method, top_k=8)
    assert overlay.shape == (224, 224, 3) and method in timing
    assert "top_k" in timing if method == "scorecam" else "top_k" not in timing
    assert "eigen_smooth" not in timing   # a default is not news


def test_tf_keras_vis_backend_uses_its_conventions_and_refuses_what_it_lacks(app, calls):
    *_, timing = calls["explain"](_opacity_example(app), "tf-keras-vis", "gradcam++")
    assert "'normalize_alphas': True" in timing
    with pytest.raises(ValueError, match="eager, graph"):
        calls["explain"](_opacity_example(app), "tf-keras-vis", "hirescam")


@pytest.mark.parametrize("top_k", [-1, "many"])
def test_bad_top_k(app, calls, top_k):
    with pytest.raises(BadInput, match="Top k must be"):
        calls["explain"](_opacity_example(app), "eager", "scorecam", top_k=top_k)


def _ramp(dtype=np.uint8, top=255, channels=None):
    """A (260, 300) ramp (so an upload read wrongly shows), with channels if given."""
    ramp = np.linspace(0, top, 300)[None, :].repeat(260, axis=0).astype(dtype)
    return ramp if channels is None else np.stack([ramp] * channels, axis=-1)


@pytest.mark.parametrize("name, array, mode", [
    ("gray.png", _ramp(), None),
    ("rgba.png", _ramp(channels=4), None),
    ("deep.png", _ramp(np.uint16, 65535), None),
    ("photo.jpg", _ramp(channels=3), None),
    ("scan.tif", _ramp(np.uint16, 65535), None),
    ("scan.bmp", _ramp(channels=3), None),
    ("anim.gif", _ramp(), None),
])
def test_uploads_of_any_kind_and_size(app, calls, tmp_path, name, array, mode):
    path = _png(tmp_path, name, array, mode)
    probs, (original, overlay), _, _, timing = calls["explain"](path)
    assert overlay.shape == original.shape == (260, 300, 3)
    assert "outlined" not in timing
    gray = original.astype(int).mean(axis=-1)
    assert gray[:, 0].max() <= 3 and gray[:, -1].min() >= 250  # dark left, bright right
    # the bytes of the file, as the page's upload hands them over, read the same
    np.testing.assert_array_equal(calls["explain"](Path(path).read_bytes())[1][0], original)


def _bad_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not an image")
    good = _png(tmp_path, "good.png", np.zeros((64, 64), np.uint8))
    (tmp_path / "cut.png").write_bytes(Path(good).read_bytes()[:60])
    tiny = _png(tmp_path, "tiny.png", np.zeros((1, 1), np.uint8))
    huge = tmp_path / "huge.png"
    Image.new("L", (10000, 10000)).save(huge)
    dicom = tmp_path / "cut.dcm"
    dicom.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" + b"\xff" * 40)
    return {"none": (None, "Upload an image first", True),
            "missing": (str(tmp_path / "gone.png"), "did not arrive", True),
            "empty": (str(tmp_path / "empty.png"), "empty", True),
            "empty bytes": (b"", "empty", True),
            "not an image": (str(tmp_path / "notes.png"), "not an image", True),
            "corrupt": (str(tmp_path / "cut.png"), "corrupt", True),
            "damaged DICOM": (str(dicom), "DICOM file cannot be used", True),
            "1x1": (tiny, "too small", False),
            "10000x10000": (str(huge), "too large", False)}


def test_bad_uploads_get_clear_errors_and_the_app_keeps_working(app, calls, tmp_path):
    for kind, (path, message, lists_formats) in _bad_files(tmp_path).items():
        with pytest.raises(BadInput, match=message) as raised:
            calls["explain"](path)
        if lists_formats:  # a message about the file says every format that is accepted
            assert all(f in str(raised.value) for f in ACCEPTED), (kind, str(raised.value))
        with pytest.raises(gr.Error, match=message):  # what the person sees in the page
            serving.guard(calls["explain"])(path)
    assert calls["explain"](_opacity_example(app))[1][1].shape == (224, 224, 3)


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
    assert largest <= 1e-4 and "the backends agree" in summary
    for backend in cams.BACKENDS:
        assert f"| {backend} |" in summary
    assert "true lesion outlined" in summary
    assert all((img == 255).all(axis=-1).sum() > 20 for img, _ in gallery)  # the outline


def test_compare_has_opacity_and_colormap_as_explain_does(app, calls):
    plain, _ = calls["compare"](_opacity_example(app), alpha=0.0)
    jet, _ = calls["compare"](_opacity_example(app), alpha=0.8, colormap="jet")
    gray, _ = calls["compare"](_opacity_example(app), alpha=0.8, colormap="gray")
    original = np.asarray(Image.open(_opacity_example(app)).convert("RGB"))
    outline = (plain[0][0] == 255).all(axis=-1)
    np.testing.assert_array_equal(plain[0][0][~outline], original[~outline])
    assert np.abs(jet[0][0].astype(int) - original).mean() > 20
    colour = lambda img: np.abs(img[..., 0].astype(int) - img[..., 2]).mean()  # noqa: E731
    assert colour(jet[0][0]) > 10 * max(colour(gray[0][0]), 1)


def test_compare_a_method_tf_keras_vis_has_and_one_it_lacks(app, calls):
    _, summary = calls["compare"](_opacity_example(app), "gradcam++")
    assert float(summary.split("backends:** ")[1].split()[0]) <= 1e-4
    gallery, summary = calls["compare"](_opacity_example(app), "hirescam")
    assert "tf-keras-vis: method 'hirescam' is not in tf-keras-vis" in gallery[-1][1]
    assert "| tf-keras-vis |" not in summary


def test_layer_sweep(app, calls):
    layers = app.layers[-3:]
    gallery = calls["sweep"](_opacity_example(app), layers)
    sizes = [cams.explain(app.model, np.zeros((1, 224, 224, 3)), layer=layer).heatmaps.shape[1:]
             for layer in layers]
    assert [caption for _, caption in gallery] == [
        f"{layer.rsplit('/', 1)[-1]} · {h}x{w}" for layer, (h, w) in zip(layers, sizes)]
    assert all("/" not in caption for _, caption in gallery)
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
    assert tab.run(Path(photo).read_bytes(), 251)[1].shape == (50, 60, 3)  # the page's bytes


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


def test_a_model_that_is_not_square(tmp_path):
    from cams.app import text
    from tests.models import two_class_cnn

    two_class_cnn((48, 80, 3), convs=2).save(tmp_path / "wide.keras")
    wide = handlers.App(str(tmp_path / "wide.keras"))
    wide.warm_up()
    assert wide.size == (48, 80) and "input 80x48" in text.model_note(wide)
    photo = _png(tmp_path, "p.png", np.random.default_rng(1).integers(0, 255, (90, 120, 3),
                                                                      dtype=np.uint8))
    shown = wide.explain(photo, layer="conv2")
    assert shown.overlay.shape == (90, 120, 3) and shown.raw.shape == (154, 256, 3)
    assert shown.record["image"]["model_input"] == [80, 48]
    assert np.ptp(shown.explanation.heatmaps[0]) > 0
    for backend in cams.BACKENDS:
        assert wide.explain(photo, backend=backend, layer="conv2").explanation.heatmaps.shape[1:] \
            == (48, 80)
