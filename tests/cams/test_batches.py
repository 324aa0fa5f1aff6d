"""One batched path: cams.explain(batch_size=) and cams.explain_batches pad the last batch to
the first's size (one compiled shape per run), equal the whole batch at once, and keep the
layer the first batch chose."""
import numpy as np
import pytest

import cams
from cams.backends import backend as base
from tests import models
from tests.cams.test_explain import _negative_head_cnn


def _alive(heatmaps):
    flat = heatmaps.reshape(-1, heatmaps.shape[-2] * heatmaps.shape[-1])
    return np.allclose(flat.max(axis=1), 1) and (flat.std(axis=1) > 0.01).all()


@pytest.mark.parametrize("backend", cams.BACKENDS)
@pytest.mark.parametrize("batch_size", [1, 3, 7, 16])
def test_batches_equal_one_call(fashion_cnn, backend, batch_size):
    x = models.images((28, 28, 1), 7, seed=8, low=0)
    whole = cams.explain(fashion_cnn, x, layer="final", backend=backend)
    batched = cams.explain(fashion_cnn, x, layer="final", backend=backend,
                           batch_size=batch_size)
    assert batched.heatmaps.shape == (7, 14, 14) and _alive(batched.heatmaps)
    np.testing.assert_allclose(batched.heatmaps, whole.heatmaps, atol=1e-5)
    np.testing.assert_array_equal(batched.class_index, whole.class_index)
    np.testing.assert_allclose(batched.probabilities, whole.probabilities, atol=1e-6)


def test_guided_and_every_class_in_batches(fashion_cnn):
    x = models.images((28, 28, 1), 5, seed=9, low=0)
    for kwargs in ({"method": "guided-gradcam"}, {"class_index": "all"}):
        whole = cams.explain(fashion_cnn, x, layer="final", **kwargs)
        batched = cams.explain(fashion_cnn, x, layer="final", batch_size=2, **kwargs)
        assert batched.heatmaps.shape == whole.heatmaps.shape and _alive(batched.heatmaps)
        np.testing.assert_allclose(batched.heatmaps, whole.heatmaps, atol=1e-5)
        if whole.attributions is not None:
            assert batched.attributions.shape == whole.attributions.shape
            np.testing.assert_allclose(batched.attributions, whole.attributions, atol=1e-6)


def _shapes_seen(monkeypatch):
    seen = []
    cam = base.PrimitiveBackend.cam

    def spy(self, x, classes, method, options, extras=()):
        seen.append((len(x), len(classes)))
        return cam(self, x, classes, method, options, extras)

    monkeypatch.setattr(base.PrimitiveBackend, "cam", spy)
    return seen


def test_a_backend_compiled_per_shape_sees_full_batches_only(fashion_cnn, monkeypatch):
    """A short last batch is padded to the full size for a backend compiled per batch shape
    (JAX's, stood in for here by the eager one), and not for the others, which take any size:
    padding them would only cost time."""
    x = models.images((28, 28, 1), 11, seed=10, low=0)
    classes = [i % 10 for i in range(11)]
    seen = _shapes_seen(monkeypatch)
    res = cams.explain(fashion_cnn, x, layer="final", class_index=classes, batch_size=4)
    assert seen == [(4, 4), (4, 4), (3, 3)] and res.heatmaps.shape[0] == 11
    monkeypatch.setattr(base.Backend, "fixed_shapes", True)
    seen.clear()
    padded = cams.explain(fashion_cnn, x, layer="final", class_index=classes, batch_size=4)
    assert seen == [(4, 4)] * 3 and padded.heatmaps.shape == (11, 14, 14)
    np.testing.assert_array_equal(padded.class_index, classes)
    np.testing.assert_allclose(padded.heatmaps, res.heatmaps, atol=1e-6)
    assert _alive(padded.heatmaps)
    seen.clear()
    found = cams.explain_batches(fashion_cnn, [x[:4], x[4:8], x[8:]], layer="final")
    assert seen == [(4, 4)] * 3 and found["heatmaps"].shape == (11, 14, 14)


def test_bad_batch_size(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=1, low=0)
    for bad in (0, -1, 2.5, "8"):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            cams.explain(fashion_cnn, x, batch_size=bad)


def test_the_first_batch_chooses_the_layer_for_all():
    """A blank default layer is replaced once, on the first batch; the others follow it, so one
    result never mixes layers."""
    model = _negative_head_cnn()
    x = models.images((16, 16, 3), 6, seed=6)
    with pytest.warns(UserWarning, match="default layer 'conv2' gives blank maps"):
        res = cams.explain(model, x, class_index=1, batch_size=4)
    assert res.layer == "conv1" and _alive(res.heatmaps[:5])  # the sixth is blank there too
    np.testing.assert_allclose(
        res.heatmaps, cams.explain(model, x, class_index=1, layer="conv1").heatmaps, atol=1e-5)
    with pytest.warns(UserWarning, match="default layer 'conv2' gives blank maps"):
        found = cams.explain_batches(model, [(x[:4], np.ones(4)), (x[4:], np.ones(2))],
                                     classes="labelled")
    assert found["layer"] == "conv1" and found["heatmaps"].shape == (6, 14, 14)
    np.testing.assert_allclose(found["heatmaps"], res.heatmaps, atol=1e-5)


def test_progress_counts_images(fashion_cnn):
    x = models.images((28, 28, 1), 5, seed=11, low=0)
    done = []
    cams.explain_batches(fashion_cnn, [x[:2], x[2:4], x[4:]], progress=done.append)
    assert done == [2, 4, 5]


def test_a_continued_store_keeps_the_layer_its_first_run_chose(tmp_path):
    """A store continued later is explained where its first batch chose, even when the rows
    left would choose another layer alone: class 1's maps are blank at the default conv2 and
    move to conv1; class 0's are live at conv2."""
    import zarr

    model = _negative_head_cnn()
    x = models.images((16, 16, 3), 6, seed=6)
    first, rest = (x[:3], np.ones(3, np.int32)), (x[3:], np.zeros(3, np.int32))
    out = str(tmp_path / "maps")
    with pytest.warns(UserWarning, match="default layer 'conv2' gives blank maps"):
        cams.explain_batches(model, [first], out=out, classes="labelled")
    assert cams.explain_batches(model, [first, rest], out=out, classes="labelled")["ok"] == 6
    store = zarr.open_group(tmp_path / "maps" / "maps.zarr", mode="r")
    assert store.attrs["layer"] == "conv1" and store["heatmaps"].shape == (6, 14, 14)
    want = cams.explain(model, x[3:], class_index=0, layer="conv1").heatmaps
    assert _alive(want)
    np.testing.assert_allclose(store["heatmaps"][3:].astype(np.float32), want, atol=1e-3)
