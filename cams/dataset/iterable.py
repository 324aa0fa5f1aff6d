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
                    backend=None, layer=None, classes="predicted", score=None, options=None):
    """Explain every batch of preprocessed images that `batches` yields: arrays (n, H, W, C),
    or (images, labels) pairs (labels: class indices, for classes="labelled"), or a
    tf.data.Dataset of either.

    With `out`, the maps go to OUT/maps.zarr as rows arrive (memory stays bounded by one
    batch), and a second call with the same model and batches continues after the rows already
    done (the store records the model's weights and the first batch by their bytes: another
    model or other data is refused, naming what differs); returns the store's counts. Without
    `out`, returns the step's columns (heatmaps float16, probabilities, predicted, explained)
    concatenated over the whole dataset.
    """
    import itertools

    from cams import explanation, fingerprint
    from cams.modelcard import ModelCard

    info = explanation.describe(model)
    pairs = _pairs(batches)
    first = next(pairs, None)
    if first is None:
        raise ValueError("the batches yield no images")
    pairs = itertools.chain([first], pairs)
    names = tuple(class_names or (f"class {i}" for i in range(info.head.n_classes)))
    card = ModelCard(names, tuple(info.input_shape[1:]), "none")
    step = ExplainStep(model, card, method=method, backend=backend, layer=layer,
                       classes=classes, score=score, options=options)
    store = None if out is None else stores.Store(
        out, {"source": "batches", "classes": classes, "class_names": list(names),
              "model_sha256": fingerprint.model_sha256(model),
              "first_batch_sha256": fingerprint.arrays_sha256(*[a for a in first
                                                                if a is not None]),
              **step.settings})
    skip = 0 if store is None else store.counts()["ok"]
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

    engine.run(step, rows_of(), write)
    if store is not None:
        return store.counts()
    return {k: np.concatenate([r[k] for r in kept]) for k in kept[0] if k not in ("ok",)}
