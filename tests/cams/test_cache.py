"""Compiled and cached paths: no retracing per call, and no stale weight copies."""
import gc
import weakref

import numpy as np

import cams
from cams import cache
from tests import models


def _engine(model, backend, layer_path, score="logit"):
    return cache._CACHES[model][(backend, layer_path, score, 0, None)]  # image input 0, no token grid


def test_eager_traces_once_across_calls_batch_sizes_and_methods(fashion_cnn):
    for n in (1, 3, 2, 3):
        x = models.images((28, 28, 1), n, seed=n, low=0)
        for method in ("gradcam", "layercam", "eigencam", "guided-backprop", "guided-gradcam",
                       "shapleycam", "ablationcam", "fullgrad"):
            cams.explain(fashion_cnn, x, layer="final", method=method, score="logit")
        cams.explain(fashion_cnn, x, layer="final", method="scorecam", score="logit", top_k=5)
        cams.explain(fashion_cnn, x, layer="final", class_index=[[n % 10, 3]] * n)  # all-labels
    engine = _engine(fashion_cnn, "eager", "final")
    for name, fn in engine._compiled.items():  # attention (rollout) is for transformers only
        assert fn.experimental_get_tracing_count() == (name != "attention"), name


def test_same_engine_is_reused(fashion_cnn):
    x = models.images((28, 28, 1), 1, seed=1, low=0)
    cams.explain(fashion_cnn, x, layer="final", backend="graph")
    first = _engine(fashion_cnn, "graph", "final")
    cams.explain(fashion_cnn, x, layer="final", backend="graph")
    assert _engine(fashion_cnn, "graph", "final") is first


def test_copies_follow_weight_changes():
    """The graph session and the tf-keras-vis clone hold weight copies: they must re-sync."""
    model = models.fashion_cnn()
    x = models.images((28, 28, 1), 2, seed=9, low=0)
    before = {b: cams.explain(model, x, class_index=3, backend=b).heatmaps for b in cams.BACKENDS}
    rng = np.random.default_rng(0)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    after = {b: cams.explain(model, x, class_index=3, backend=b).heatmaps for b in cams.BACKENDS}
    assert np.abs(after["eager"] - before["eager"]).max() > 0.05
    for b in ("graph", "tf-keras-vis"):
        np.testing.assert_allclose(after[b], after["eager"], atol=1e-4)


def test_forget_drops_the_model(fashion_cnn):
    cams.explain(fashion_cnn, models.images((28, 28, 1), 1, seed=1, low=0))
    assert fashion_cnn in cache._CACHES
    cams.forget(fashion_cnn)
    assert fashion_cnn not in cache._CACHES


def test_cache_does_not_keep_the_model_alive():
    model = models.small_binary()
    x = models.images((32, 32, 3), 1, seed=1)
    for backend in cams.BACKENDS:
        cams.explain(model, x, backend=backend)
    for backend in ("eager", "graph"):
        cams.explain(model, x, backend=backend, method="guided-gradcam")
        cams.explain(model, x, backend=backend, method="scorecam", top_k=2)
    assert model in cache._CACHES
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
