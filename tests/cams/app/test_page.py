"""The page's layout and wiring as a person and an API client meet them: named endpoints with
named parameters, a compact layer sweep, Compare's display controls, the original-vs-overlay
slider, and outputs emptied before every run so an error never sits over an old result."""
import inspect

import gradio as gr
import pytest

from cams.app import imagenet, page, text
from cams.app.handlers import PREDICTED

PUBLIC = {"explain", "trust", "preview", "compare", "sweep", "imagenet", "audit"}


@pytest.fixture(scope="module")
def blocks(app):
    return page.build(app, imagenet.ImageNetDemo())


def _dependency(blocks, api_name):
    return next(f for f in blocks.fns.values() if f.api_name == api_name)


def test_endpoints_and_their_parameters_are_named(blocks, app):
    named = blocks.get_api_info()["named_endpoints"]
    assert set(named) == {"/" + name for name in PUBLIC}
    functions = page.endpoints(app, imagenet.ImageNetDemo())
    for name in PUBLIC - {"audit"}:  # the Audit tab's endpoint: tests/cams/app/test_audit_tab.py
        parameters = [p["parameter_name"] for p in named["/" + name]["parameters"]]
        assert parameters == list(inspect.signature(functions[name]).parameters), name
        returns = [r["label"] for r in named["/" + name]["returns"]]
        assert not [r for r in returns if r.startswith("value_")], (name, returns)
    window = [p for p in named["/explain"]["parameters"] if p["parameter_name"] == "window_center"]
    assert window[0]["parameter_has_default"] and window[0]["parameter_default"] is None


def test_the_layer_sweep_is_a_compact_multiselect_of_four_layers(blocks, app):
    sweep = _dependency(blocks, "sweep")
    layers = sweep.inputs[1]
    assert isinstance(layers, gr.Dropdown) and layers.multiselect
    assert [path for _, path in layers.choices] == app.layers
    assert [shown for shown, _ in layers.choices] == [p.rsplit("/", 1)[-1] for p in app.layers]
    assert len(layers.value) == 4 and set(layers.value) <= set(app.layers)
    assert layers.value[-1] == app.layers[-1]  # from shallow to deep, ending at the last
    assert not [b for b in blocks.blocks.values() if isinstance(b, gr.CheckboxGroup)]


def test_compare_has_the_opacity_colormap_and_outline_of_explain(blocks):
    explain = {getattr(c, "label", None) for c in _dependency(blocks, "explain").inputs}
    compare = {getattr(c, "label", None) for c in _dependency(blocks, "compare").inputs}
    assert {"Heatmap opacity (alpha)", "Colormap"} <= explain & compare


def test_explain_shows_original_and_overlay_in_one_slider(blocks):
    outputs = _dependency(blocks, "explain").outputs
    assert isinstance(outputs[1], gr.ImageSlider)
    assert isinstance(outputs[3], gr.File) and outputs[3].file_count == "multiple"
    trust = _dependency(blocks, "trust")
    assert isinstance(trust.outputs[0], gr.Plot)


def _clears(blocks, dependency):
    """The dependency that runs right before `dependency` (a .then chain) empties every one of
    its outputs, on no queue and no API."""
    before = blocks.fns[dependency.trigger_after]
    assert before.queue is False and before.api_visibility == "private"
    values = before.fn()
    values = values if isinstance(values, tuple) else (values,)
    emptied = {c._id for c, v in zip(before.outputs, values) if v is None}
    return {c._id for c in dependency.outputs} <= emptied


@pytest.mark.parametrize("api_name", ["explain", "trust", "compare", "sweep", "imagenet",
                                      "audit"])
def test_every_button_empties_its_outputs_before_it_runs(blocks, api_name):
    """In Gradio 6 a raised gr.Error leaves the outputs as they were: emptied first, an error
    is shown over nothing rather than over the previous image's result."""
    dependency = _dependency(blocks, api_name)
    assert dependency.trigger_after is not None and not dependency.trigger_only_on_success
    assert _clears(blocks, dependency)


def test_a_new_file_empties_every_result_of_its_tab(blocks):
    preview = _dependency(blocks, "preview")
    before = blocks.fns[preview.trigger_after]
    assert before.queue is False and before.targets[0][1] == "change"  # new, example, removed
    values = dict(zip([c._id for c in before.outputs], before.fn()))
    explain, trust = _dependency(blocks, "explain"), _dependency(blocks, "trust")
    for component in explain.outputs + trust.outputs + [preview.outputs[0]] + explain.inputs[-2:]:
        assert values[component._id] is None  # results, preview and window all emptied
    assert values[preview.outputs[1]._id] == text.UPLOAD_INFO  # the accepted formats again


@pytest.mark.parametrize("api_name", ["explain", "compare", "sweep"])
def test_moving_the_window_redraws_the_result(blocks, api_name):
    endpoint = _dependency(blocks, api_name)
    window = endpoint.inputs[-2:]
    ids = lambda components: [c._id for c in components]  # noqa: E731
    redraws = [f for f in blocks.fns.values() if f.fn is not None and f.api_visibility == "private"
               and ids(f.inputs) == ids(endpoint.inputs) and f.trigger_only_on_success]
    assert len(redraws) == 2, "the result is not redrawn after each window slider moves"
    for redraw in redraws:
        assert ids(redraw.outputs) == ids(endpoint.outputs)
        preview = blocks.fns[redraw.trigger_after]
        assert ids(preview.inputs)[1:] == ids(window)
        moved = blocks.fns[preview.trigger_after]
        assert moved.targets[0][1] == "release" and isinstance(moved.inputs[0], gr.Slider)
        assert ids(moved.outputs)[:2] == ids(window)
        values = moved.fn(1200.0, 800.0)
        assert values[:2] == (1200.0, 800.0) and set(values[2:]) == {None}
        assert set(ids(endpoint.outputs)) <= set(ids(moved.outputs)[2:])  # emptied first


def test_the_probabilities_name_the_class_the_map_explains(blocks, app):
    """After /explain (whose API answer stays the probabilities alone), the Label's title names
    the class the map explains: the chosen target, or the predicted class it lists first."""
    explain = _dependency(blocks, "explain")
    key = next(k for k, f in blocks.fns.items() if f is explain)
    after = [f for f in blocks.fns.values() if f.trigger_after == key]
    assert len(after) == 1 and after[0].api_visibility == "private"
    target, label = after[0].inputs
    assert label._id == explain.outputs[0]._id and after[0].outputs[0]._id == label._id
    shown = {"opacity": 0.9, "normal": 0.1}             # as the Label gives it, sorted
    assert after[0].fn("normal", shown).label.endswith("the map explains: normal")
    assert after[0].fn(PREDICTED, shown).label.endswith("the map explains: opacity")
    tie = {"normal": 0.5, "opacity": 0.5}               # the lowest index first, as cams picks
    assert after[0].fn(PREDICTED, tie).label.endswith("the map explains: normal")
    assert after[0].fn(PREDICTED, None).label == text.PROBABILITIES[app.head]
