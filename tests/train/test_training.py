"""Short training runs of the real CLI on tiny phantom sets."""
import json

import keras
import numpy as np
import pytest

from train import __main__ as trainer
from train import model as models

TINY = ["--phantoms", "24", "--size", "64", "--backbone", "mobilenetv2", "--alpha", "0.35",
        "--weights", "none", "--batch-size", "8", "--seed", "4", "--verbose", "0"]


def test_cli_writes_model_json_and_figures(tmp_path):
    out = tmp_path / "tiny.keras"
    assert trainer.main(TINY + ["--epochs", "1", "--out", str(out)]) == 0
    info = json.loads((tmp_path / "tiny.json").read_text())
    assert info["class_names"] == ["normal", "opacity"]
    assert info["input_size"] == [64, 64, 3] and info["preprocessing"] == "mobilenetv2"
    table = info["cam_layer_selection"]["pointing_game_and_energy"]
    assert info["cam_layer"] == max(table, key=lambda p: table[p]) and info["seed"] == 4
    assert all(path.startswith("mobilenetv2_0.35_64/") for path in table)
    assert set(info["validation_metrics"]) == {"accuracy", "roc_auc", "confusion"}
    assert (tmp_path / "tiny_curves.png").stat().st_size > 1000
    assert (tmp_path / "tiny_confusion.png").stat().st_size > 1000
    model = keras.models.load_model(out, compile=False)
    assert model.get_layer("mobilenetv2_0.35_64") is not None  # the base nested as a layer


def test_cached_features_train_the_same_head_as_end_to_end(tmp_path):
    # --cam-layer: no layer selection (test_cli_writes_model_json_and_figures covers it)
    frozen = TINY + ["--freeze-base", "--no-augment", "--epochs", "2",
                     "--cam-layer", "out_relu"]
    assert trainer.main(frozen + ["--out", str(tmp_path / "cached.keras")]) == 0
    assert trainer.main(frozen + ["--no-cache-features", "--out", str(tmp_path / "e2e.keras")]) == 0
    cached = json.loads((tmp_path / "cached.json").read_text())
    e2e = json.loads((tmp_path / "e2e.json").read_text())
    assert cached["training_path"].startswith("cached features")
    assert e2e["training_path"] == "end to end"
    a = keras.models.load_model(tmp_path / "cached.keras", compile=False)
    b = keras.models.load_model(tmp_path / "e2e.keras", compile=False)
    head_a, head_b = a.get_layer("predictions").get_weights(), b.get_layer("predictions").get_weights()
    for wa, wb in zip(head_a, head_b):
        np.testing.assert_allclose(wa, wb, atol=1e-4)
    keras.utils.set_random_seed(4)
    fresh, _, _ = models.build("mobilenetv2", 2, 64, None, alpha=0.35, freeze=True)
    moved = max(np.abs(w0 - w).max()
                for w0, w in zip(fresh.get_layer("predictions").get_weights(), head_a))
    assert moved > 1e-4, "the head did not train at all"
    base_a = a.get_layer("mobilenetv2_0.35_64").get_weights()[0]
    np.testing.assert_array_equal(base_a, fresh.get_layer("mobilenetv2_0.35_64").get_weights()[0])


def test_vgg16_head_is_seed_000s():
    net, base, head = models.build("vgg16", 2, 64 * 2, None)
    assert [type(layer).__name__ for layer in head] == [
        "AveragePooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    assert head[2].units == 128 and head[3].rate == 0.6 and head[-1].units == 2
    assert models.default_cam_layer("vgg16", base) == "vgg16/block5_conv3"


def test_frozen_imagenet_style_base_with_fine_tuning():
    net, base, _ = models.build("mobilenetv2", 3, 64, None, alpha=0.35, freeze=True,
                                fine_tune=True)
    trainable = {layer.name for layer in base.layers if layer.trainable and layer.weights}
    assert trainable and all(n.startswith(("block_16_", "Conv_1")) for n in trainable)


def test_flat_build_has_no_nested_model():
    net, _, _ = models.build("mobilenetv2", 2, 64, None, nested=False, alpha=0.35)
    assert not any(isinstance(layer, keras.Model) for layer in net.layers)


def test_base_cut_short_keeps_a_finer_map_and_stays_nested():
    net, base, _ = models.build("mobilenetv2", 2, 96, None, alpha=0.35,
                                base_end="block_13_expand_relu")
    assert base.name == "mobilenetv2_0.35_96" and base in net.layers
    assert tuple(base.outputs[0].shape[1:3]) == (6, 6)           # stride 16, not 32
    assert models.default_cam_layer("mobilenetv2", base) == f"{base.name}/block_13_expand_relu"
    with pytest.raises(ValueError, match="no layer 'nope' to end at"):
        models.build("mobilenetv2", 2, 96, None, alpha=0.35, base_end="nope")
    with pytest.raises(ValueError, match="cut short"):
        models.build("mobilenetv2", 2, 96, None, alpha=0.35,
                     base_end="block_13_expand_relu", freeze=True, fine_tune=True)


def test_cli_refuses_an_unknown_base_end(capsys):
    with pytest.raises(SystemExit) as exit_info:
        trainer.main(TINY + ["--epochs", "1", "--base-end", "nope"])
    assert exit_info.value.code == 2 and "no layer 'nope'" in capsys.readouterr().err


def test_efficientnetb0_backbone_trains_and_is_explained_in_every_backend(tmp_path):
    """EfficientNet normalizes inside the model (a Normalization layer with constants): the
    card says pixels go in as they are, and every backend draws the same map."""
    import cams
    from cams.io import modelcard

    out = tmp_path / "effnet.keras"
    args = ["--phantoms", "16", "--size", "64", "--backbone", "efficientnetb0", "--weights",
            "none", "--batch-size", "8", "--seed", "2", "--verbose", "0", "--epochs", "1",
            "--cam-layer", "top_activation", "--out", str(out)]
    assert trainer.main(args) == 0
    model, card = modelcard.load(str(out))
    assert card.preprocessing == "efficientnetb0" and card.cam_layer.endswith("/top_activation")
    x = card.preprocess(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)))
    maps = {b: cams.explain(model, x, class_index="all", backend=b).heatmaps
            for b in cams.BACKENDS}
    # After one epoch a class may have no positive evidence (an all-zero map): the agreement
    # must rest on maps that are not degenerate, at least two of the four.
    live = (maps["eager"].max(axis=(2, 3)) > 0.99) & (maps["eager"].std(axis=(2, 3)) > 0.01)
    assert live.sum() >= 2, live
    for b in ("graph", "tf-keras-vis"):
        np.testing.assert_allclose(maps["eager"], maps[b], atol=1e-4)
        np.testing.assert_allclose(maps["eager"][live], maps[b][live], atol=1e-4)
