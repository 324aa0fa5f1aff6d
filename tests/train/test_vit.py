"""--backbone vit: a small vision transformer trained from random weights, explained, served."""
import glob
import json

import keras
import numpy as np
import pytest

import cams
from train import __main__ as trainer
from train import vit


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("vit") / "vit.keras"
    assert trainer.main(["--phantoms", "16", "--size", "64", "--backbone", "vit",
                         "--weights", "none", "--batch-size", "8", "--seed", "4", "--verbose",
                         "0", "--epochs", "1", "--cam-layer", "block4_out", "--out",
                         str(out)]) == 0
    return out


def test_vit_trains_loads_without_custom_objects_and_is_explained(trained):
    info = json.loads(trained.with_suffix(".json").read_text())
    assert info["cam_layer"] == "vit/block4_out" and info["preprocessing"] == "vit"
    model = keras.models.load_model(trained, compile=False)  # Keras' own layers only
    layers = cams.conv_layers(model)
    assert layers[-1] == "vit/norm" and "vit/block1_attention_add" in layers
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    maps = [cams.explain(model, x, layer="vit/block4_out", backend=b).heatmaps
            for b in ("eager", "graph")]
    assert maps[0].shape == (2, 4, 4)
    assert np.allclose(maps[0].max(axis=(1, 2)), 1) and (maps[0].std(axis=(1, 2)) > 1e-3).all()
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-4)


def test_the_demo_serves_it_with_its_blocks_in_the_layer_menu(trained):
    from cams.app.handlers import App

    app = App(str(trained), "models/examples")
    app.warm_up()  # tf-keras-vis refuses the transformer and is skipped, not fatal
    assert app.default_layer == "vit/block4_out"
    assert {"vit/block1_ln1", "vit/block4_out", "vit/norm"} <= set(app.layers)
    image = sorted(glob.glob("models/examples/opacity/*.png"))[0]
    shown = app.explain(image)
    assert shown.explanation.heatmaps.shape == (1, 4, 4) and shown.overlay.ndim == 3
    compared = app.compare(image)
    assert compared.differences[("eager", "graph")] <= 1e-4
    assert any("tf-keras-vis" in caption and "transformer tokens" in caption
               for _, caption in compared.gallery)
    swept = app.sweep(image, ["vit/block1_out", "vit/block4_out"])
    assert [(layer, shape) for _, layer, shape in swept] == [
        ("vit/block1_out", (4, 4)), ("vit/block4_out", (4, 4))]


def test_vit_refuses_what_it_cannot_do(capsys):
    with pytest.raises(ValueError, match="divisible by its patch size 16"):
        vit.build(50)
    with pytest.raises(SystemExit):
        trainer.main(["--phantoms", "8", "--backbone", "vit", "--weights", "imagenet",
                      "--out", "x.keras"])
    assert "no ImageNet weights" in capsys.readouterr().err
