"""What a person would notice if it were wrong: each probability beside its own class, the class
explained the one asked for, a backend that disagrees reported as disagreeing, a one-unit
sigmoid model shown as two classes, and the trust check's curves and rho as cams computes them.
Each compares the page's endpoint with a direct cams call on the same input."""
import dataclasses

import gradio as gr
import keras
import numpy as np
import pytest
from PIL import Image

import cams
from cams import metrics
from cams.io import images, modelcard
from cams.app import handlers, imagenet, page
from tests.cams.app.files import example, save_image


def _model_input(app, path):
    """What the app gives the model for an upload at most DISPLAY_MAX wide: the file resized."""
    return app.card.preprocess(images.read_image(path, app.size)[None].astype(np.float32))


def test_each_probability_is_shown_beside_its_own_class(app, calls):
    gaps = []
    for label in ("normal", "opacity"):
        path = example(app, label)
        probs = calls["explain"](path)[0]
        outputs = app.model.predict(_model_input(app, path), verbose=0)[0]
        assert list(probs) == app.classes
        for i, name in enumerate(app.classes):
            assert probs[name] == pytest.approx(float(outputs[i]), abs=1e-6), name
        assert max(probs, key=probs.get) == label  # the shipped model gets its examples right
        gaps.append(abs(probs["normal"] - probs["opacity"]))
        shown = gr.Label().postprocess(probs).model_dump()  # what the page's Label receives
        assert {c["label"]: c["confidence"] for c in shown["confidences"]} == probs
    assert min(gaps) > 0.5  # so a shifted or swapped label would show


def test_the_class_explained_is_the_one_asked_for(app, calls):
    path = example(app, "opacity")
    x = _model_input(app, path)
    maps = {}
    for i, name in enumerate(app.classes):
        *_, files, line = calls["explain"](path, "eager", "gradcam", target=name)
        maps[name] = np.load(files[1])
        direct = cams.explain(app.model, x, layer=app.default_layer, class_index=i)
        np.testing.assert_allclose(maps[name], direct.heatmaps[0], atol=1e-5)
        assert f"class **{name}**" in line
    assert np.abs(maps["normal"] - maps["opacity"]).max() > 0.3  # a swap would show
    predicted = calls["explain"](path)[3][1]
    np.testing.assert_array_equal(np.load(predicted), maps["opacity"])


def test_compare_reports_a_backend_that_disagrees(app, calls, monkeypatch):
    path = example(app, "opacity")
    honest = cams.explain

    def graph_off(model, x, **kwargs):  # the graph backend's maps turned upside down
        res = honest(model, x, **kwargs)
        if kwargs.get("backend") != "graph":
            return res
        return dataclasses.replace(res, heatmaps=np.ascontiguousarray(res.heatmaps[:, ::-1]))

    monkeypatch.setattr(cams, "explain", graph_off)
    gallery, summary = calls["compare"](path)
    eager = honest(app.model, _model_input(app, path), layer=app.default_layer).heatmaps[0]
    assert eager.max() == pytest.approx(1) and eager.std() > 0.1  # a map, not a constant
    flipped = np.abs(eager - eager[::-1]).max()
    assert flipped > 0.3
    assert "**the backends differ**" in summary
    assert float(summary.split("backends:** ")[1].split()[0]) == pytest.approx(flipped, rel=1e-3)
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in summary.splitlines()
            if " vs " in line}
    assert rows["eager vs tf-keras-vis"] <= 1e-4
    assert rows["eager vs graph"] == pytest.approx(flipped, rel=1e-3)
    assert rows["graph vs tf-keras-vis"] == pytest.approx(flipped, rel=1e-3)
    np.testing.assert_array_equal(gallery[0][0], calls["explain"](path, alpha=0.4)[1][1])


def _small_model(tmp_path, names):
    """A tiny classifier ending in sigmoid units (one for two names, else one per name), saved
    with its card; biases put the units' probabilities near 0.8, 0.3, 0.6, so no two are
    alike and none is 0.5."""
    keras.utils.set_random_seed(4)
    units = 1 if len(names) == 2 else len(names)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    bias = keras.initializers.Constant(np.array([1.4, -0.9, 0.4][:units]))
    outputs = keras.layers.Dense(units, activation="sigmoid", name="head",
                                 bias_initializer=bias)(x)
    path = str(tmp_path / f"tiny_{units}.keras")
    keras.Model(inputs, outputs).save(path)
    modelcard.write(path, modelcard.ModelCard(tuple(names), (32, 32, 3), "unit", "features"))
    return path


@pytest.mark.parametrize("names", [("healthy", "sick"), ("effusion", "nodule", "mass")])
def test_sigmoid_heads_show_each_class_with_its_own_probability(tmp_path, names):
    """One sigmoid unit is two classes (1 - p, p); several are labels with their own p each."""
    app = handlers.App(_small_model(tmp_path, names))
    calls = page.endpoints(app, imagenet.ImageNetDemo())
    assert app.classes == list(names) and app.default_layer == "features"
    assert app.head == ("binary" if len(names) == 2 else "multilabel")
    rng = np.random.default_rng(0)
    path = save_image(tmp_path, "scan.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    x = app.card.preprocess(images.read_image(path, 32)[None].astype(np.float32))
    p = app.model.predict(x, verbose=0)[0].astype(float)
    expected = dict(zip(names, [1 - p[0], p[0]] if len(names) == 2 else p))
    assert 0.65 < p[0] < 0.95 and len(set(np.round(list(expected.values()), 2))) == len(names)
    maps = {}
    for i, name in enumerate(names):
        probs, (_, overlay), _, files, line = calls["explain"](path, target=name)
        assert probs == pytest.approx(expected, abs=1e-5)
        assert overlay.shape == (40, 50, 3) and f"class **{name}**" in line
        maps[name] = np.load(files[1])
        direct = cams.explain(app.model, x, layer="features", class_index=i).heatmaps[0]
        np.testing.assert_allclose(maps[name], direct, atol=1e-5)
    assert min(np.abs(maps[a] - maps[b]).max() for a in names for b in names if a < b) > 0.05
    top = max(expected, key=expected.get)
    assert f"class **{top}**" in calls["explain"](path)[-1]  # predicted: the most probable
    figure, words = calls["trust"](path, target=names[-1])
    assert "Randomization check: ρ" in words and len(figure.axes[0].lines) == 2
    assert figure.axes[0].get_ylabel() == f"probability of {names[-1]}"


def test_can_i_trust_this_map(app, calls):
    path = example(app, "opacity")
    figure, words = calls["trust"](path, "eager", "gradcam")
    x = _model_input(app, path)
    res = cams.explain(app.model, x, layer=app.default_layer)
    direct = metrics.deletion_insertion(app.model, x, res.heatmaps, res.class_index,
                                        steps=handlers.TRUST_STEPS)
    deletion, insertion = figure.axes[0].lines
    np.testing.assert_allclose(deletion.get_xdata(), np.linspace(0, 1, handlers.TRUST_STEPS + 1))
    np.testing.assert_allclose(deletion.get_ydata(), direct["deletion_curve"][0], atol=1e-5)
    np.testing.assert_allclose(insertion.get_ydata(), direct["insertion_curve"][0], atol=1e-5)
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [f"deletion (AUC {direct['deletion'][0]:.2f}, lower is better)",
                      f"insertion (AUC {direct['insertion'][0]:.2f}, higher is better)"]
    assert direct["deletion"][0] < direct["insertion"][0]  # a faithful map: the curves part
    rho = metrics.randomization_check(
        app.model, x, lambda m, b: cams.explain(m, b, layer=res.layer,
                                                class_index=res.class_index).heatmaps,
        res.layer)[0]
    assert f"ρ = {rho:.2f}" in words
    assert "A high ρ (near 1) means the map hardly changed" in words
    assert ("passes" if rho < 0.5 else "fails" if rho >= 0.8 else "moderate") in words
    assert figure.axes[0].get_ylabel() == "probability of opacity"  # the class explained


def test_a_large_upload_is_explained_at_display_size(app, calls, tmp_path):
    """The page shows at most 2048 pixels a side and says what the file was (what that saves
    is measured in test_memory.py)."""
    big = np.zeros((3000, 2500), np.uint8)
    big[:, 1250:] = 200
    path = save_image(tmp_path, "wide.png", big)
    probs, (original, overlay), _, files, _ = calls["explain"](path)
    assert original.shape == overlay.shape == (2048, 1707, 3)
    image, facts, *_ = calls["preview"](path)
    assert facts == "**PNG** · 2500x3000, shown and explained at 1707x2048"
    assert image.shape == (1024, 854, 3)  # 1707 / 2, rounded to even
    assert np.asarray(Image.open(files[0])).shape == (2048, 1707, 3)
