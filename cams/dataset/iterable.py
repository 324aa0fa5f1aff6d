"""explain_batches: a tf.data.Dataset or any iterable of batches explained, kept in memory or
written to a store, continuing a store that a stopped run left."""
import numpy as np

from cams.dataset import engine, store as stores
from cams.dataset.step import ExplainStep


def _pairs(batches):
    """(images, labels or None) per batch, whatever the iterable yields."""
    if hasattr(batches, "as_numpy_iterator"):  # a tf.data.Dataset
        batches = batches.as_numpy_iterator()
    for batch in batches:
        if isinstance(batch, (tuple, list)):
            yield np.asarray(batch[0]), np.asarray(batch[1])
        else:
            yield np.asarray(batch), None


def explain_batches(model, batches, out=None, class_names=None, method="gradcam",
                    backend=None, layer=None, classes="predicted", score=None, options=None,
                    progress=None):
    """Explain every batch that `batches` yields, the path every tool of cams explains by.

    Each batch is explained by cams.explain at the layer the first batch chose (a store
    continued later keeps it too); under a backend compiled per batch shape (JAX) a batch
    smaller than the largest so far is padded to its size, so that a run compiles once.
    Writing one batch overlaps explaining the next; the batches are drawn in this thread.

    The method, backend, layer, score and options are cams.explain's.

    Args:
        model (keras.Model): the model; it is never changed.
        batches (Iterable | tf.data.Dataset): preprocessed image arrays (n, H, W, C), or
            (images, labels) pairs (labels: class indices, for classes="labelled"), or a
            tf.data.Dataset of either.
        out (str | None): a folder. With it the maps go to OUT/maps.zarr as rows arrive
            (memory stays bounded by one batch), and a second call with the same model and
            batches continues after the rows already done: the store records the model's
            weights and the first batch by their bytes, and refuses another model or other
            data, naming what differs.
        class_names (list[str] | None): the classes' names, recorded in the store.
        classes (str): "predicted", "labelled" or "all" (every class: maps (n, L, h, w)).
        progress (Callable | None): called as progress(images done) after each batch.

    Returns:
        dict: with `out`, the store's counts {"ok", "unreadable", "pending"}. Without it,
            the columns joined over every batch: heatmaps float32 (N, h, w) in [0, 1] (or
            (N, L, h, w)), probabilities (N, C), predicted (N,) and explained (N, L); and
            "layer", the path of the layer explained.

    Raises:
        ValueError: `batches` yields no images, or `out` holds a store made otherwise.
    """
    import itertools

    from cams import explanation
    from cams.io import fingerprint
    from cams.model import keras2

    model = keras2.as_keras3(model)   # a tf_keras model, explained through its Keras 3 twin
    info = explanation.describe(model)
    pairs = _pairs(batches)
    first = next(pairs, None)
    if first is None:
        raise ValueError("the batches yield no images")
    pairs = itertools.chain([first], pairs)
    names = tuple(class_names or (f"class {i}" for i in range(info.head.n_classes)))
    step = ExplainStep(model, method=method, backend=backend, layer=layer,
                       classes=classes, score=score, options=options)
    store = None if out is None else stores.Store(
        out, {"source": "batches", "classes": classes, "class_names": list(names),
              "model_sha256": fingerprint.model_sha256(model),
              "first_batch_sha256": fingerprint.arrays_sha256(*[a for a in first
                                                                if a is not None]),
              **step.settings})
    skip = 0 if store is None else store.counts()["ok"]
    if store is not None and store.layer():   # continue at the layer the first call chose
        step.explain_at(store.layer())
    kept = []

    def rows_of():
        start = 0
        for images, labels in pairs:
            n = len(images)
            if start + n > skip:  # a batch partly done is explained again, whole
                yield {"row": np.arange(start, start + n), "image": images,
                       "ok": np.ones(n, bool), "error": np.full(n, "", object),
                       "label": (np.full(n, -1, np.int32) if labels is None
                                 else labels.astype(np.int32))}
            start += n

    def write(result, batch):
        if store is not None:
            store.write(result, batch["error"])
        else:
            kept.append(result)

    def on_batch(batch, result):
        if progress is not None:
            progress(int(batch["row"][-1]) + 1)

    engine.run(step, rows_of(), write, on_batch)
    if store is not None:
        return store.counts()
    return {**{k: np.concatenate([r[k] for r in kept]) for k in kept[0]
               if k not in ("ok", "layer")},
            "layer": step.layer}
