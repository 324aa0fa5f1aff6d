"""--backbone vit: a small vision transformer trained from random weights and explained."""
import json

import keras
import numpy as np
import pytest

import cams
from train import __main__ as trainer
from train import vit


def test_vit_trains_loads_without_custom_objects_and_is_explained(tmp_path):
    out = tmp_path / "vit.keras"
    assert trainer.main(["--phantoms", "16", "--size", "64", "--backbone", "vit",
                         "--weights", "none", "--batch-size", "8", "--seed", "4", "--verbose",
                         "0", "--epochs", "1", "--cam-layer", "block4_out", "--out",
                         str(out)]) == 0
    info = json.loads((tmp_path / "vit.json").read_text())
    assert info["cam_layer"] == "vit/block4_out" and info["preprocessing"] == "vit"
    model = keras.models.load_model(out, compile=False)  # Keras' own layers only
    layers = cams.conv_layers(model)
    assert layers[-1] == "vit/norm" and "vit/block1_attention_add" in layers
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    maps = [cams.explain(model, x, layer="vit/block4_out", backend=b).heatmaps
            for b in ("eager", "graph")]
    assert maps[0].shape == (2, 4, 4)
    assert np.allclose(maps[0].max(axis=(1, 2)), 1) and (maps[0].std(axis=(1, 2)) > 1e-3).all()
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-4)


def test_vit_refuses_what_it_cannot_do(capsys):
    with pytest.raises(ValueError, match="divisible by its patch size 16"):
        vit.build(50)
    with pytest.raises(SystemExit):
        trainer.main(["--phantoms", "8", "--backbone", "vit", "--weights", "imagenet",
                      "--out", "x.keras"])
    assert "no ImageNet weights" in capsys.readouterr().err
