"""explain_dataset: every image of a folder or CSV explained into a resumable store."""
import hashlib
import os
import sys

import numpy as np

from cams.io import fingerprint
from cams.dataset import engine, reader, store as stores
from cams.io import sources
from cams.dataset.step import ExplainStep


def _names_digest(items):
    return hashlib.sha256("\n".join(i.name for i in items).encode()).hexdigest()


def settings_of(model_path, items, step):
    """What must be the same for a store to be continued: the model and its card, the images,
    the options."""
    card = step.card
    return {"model": os.path.basename(model_path),
            "model_sha256": fingerprint.file_sha256(model_path),
            "class_names": list(card.class_names), "input_size": list(card.input_size),
            "preprocessing": card.preprocessing, "images": len(items),
            "names_sha256": _names_digest(items), "classes": step.classes,
            **{k: v for k, v in step.settings.items()}}


def label_index(items, class_names, classes):
    """label_of(item) -> the index of its label among class_names, or -1; with
    classes="labelled" every label must be one of class_names (ValueError otherwise)."""
    index = {name: i for i, name in enumerate(class_names)}
    if classes == "labelled":
        unknown = sorted({str(i.label) for i in items if i.label not in index})
        if unknown:
            raise ValueError(f"--classes labelled needs every image's label among the model's "
                             f"classes ({', '.join(class_names)}); found "
                             f"{', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
    return lambda item: index.get(item.label, -1)


def explain_dataset(model_path, data, out, method="gradcam", backend=None, layer=None,
                    classes="predicted", score=None, options=None, batch_size=32, workers=4,
                    overlays=False, engine_name="local", address=None, progress=True,
                    csv_root=None, log=None):
    """Explain every image of `data` (a folder or a CSV, see cams.io.sources) with the
    model at `model_path` into OUT/maps.zarr and OUT/index.csv/.parquet; continue a store that
    a stopped run left. Returns {"ok": n, "unreadable": n, "pending": n, "explained_now": n}.
    engine_name "ray" runs the step on a Ray cluster (`address`, or a local one)."""
    log = log or (lambda line: print(line, file=sys.stderr))
    items = sources.items_of(data, csv_root)
    step = ExplainStep(model_path, method=method, backend=backend, layer=layer,
                       classes=classes, score=score, options=options)
    for note in step.card.notes:  # defaults used where the model's card said nothing
        log(f"note: {note} (write {os.path.splitext(model_path)[0]}.json: see "
            "cams.io.modelcard)")
    label_of = label_index(items, step.card.class_names, classes)
    store = stores.Store(out, settings_of(model_path, items, step), len(items), batch_size)
    rows = store.pending()
    if not len(rows):
        counts = store.counts()
        log(f"{out}: all {len(items)} images already explained ({counts['unreadable']} "
            "unreadable); nothing to do")
        _index(out, store, items, step)
        return {**counts, "explained_now": 0}
    if len(rows) < len(items):
        log(f"{out}: continuing, {len(items) - len(rows)} of {len(items)} images already done")
    if store.layer():   # continue at the layer the first run chose (a blank default moved it)
        step.explain_at(store.layer())
    bar = _progress(len(rows), progress)
    paint = _overlay_writer(out, items, step) if overlays else None

    def write(result, batch):
        store.write(result, batch["error"])
        if paint is not None:
            paint(result, batch)

    def on_batch(batch, result):
        for row, error in zip(batch["row"], batch["error"]):
            if error:
                bar.write(f"warning: skipping {items[row].name}: {error}")
        bar.update(len(batch["row"]))

    size = tuple(int(s) for s in step.card.input_size[:2])
    try:
        if engine_name == "ray":
            from cams.dataset import ray_engine

            done = ray_engine.run(model_path, step, items, rows, size, label_of, batch_size,
                                  write, on_batch, address, keep_images=overlays)
        else:
            done = engine.run(step, reader.batches(items, rows, size, label_of, batch_size,
                                                   workers), write, on_batch)
    except KeyboardInterrupt:
        bar.close()
        log(f"stopped: {store.counts()['pending']} images left; run the same command to "
            "continue")
        _index(out, store, items, step)
        raise
    bar.close()
    _index(out, store, items, step)
    return {**store.counts(), "explained_now": done}


def _index(out, store, items, step):
    stores.write_index(out, store, [i.name for i in items], step.card.class_names,
                       [i.label for i in items])


def _progress(total, enabled):
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:
        enabled = False
    if not enabled:
        return _Quiet()
    return tqdm(total=total, unit="img", dynamic_ncols=True, smoothing=0.1)


class _Quiet:
    """The progress bar's interface, silent; warnings still go to stderr."""

    def update(self, n):
        pass

    def write(self, line):
        print(line, file=sys.stderr)

    def close(self):
        pass


def overlay_stem(name):
    """The path under OUT/overlays, less ".png", of the overlay of the image named `name` (as
    the index names it: relative to the data folder, or as a CSV wrote it, maybe absolute or
    with ".."). Always inside OUT/overlays (the root is dropped, ".." becomes "_up"), never onto
    the image itself; the extension is kept unless it is .png, so x.png and x.jpg in one folder
    get x.png and x.jpg.png."""
    path = os.path.splitdrive(name)[1].replace("\\", "/")
    parts = ["_up" if p == ".." else p for p in path.split("/") if p not in ("", ".")]
    stem = os.path.join(*parts)
    return stem[:-4] if stem.endswith(".png") else stem


def _overlay_writer(out, items, step):
    """write(result, batch): OUT/overlays/<name>.png, one per explained image (one per class,
    <name>_<class>.png, with several classes per image)."""
    import cams
    from PIL import Image

    def paint(result, batch):
        for i, row in enumerate(result["row"]):
            if not result["ok"][i]:
                continue
            maps = result["heatmaps"][i].astype(np.float32)
            maps = maps[None] if maps.ndim == 2 else maps
            stem = overlay_stem(items[row].name)
            for j, heatmap in enumerate(maps):
                suffix = "" if len(maps) == 1 else (
                    "_" + step.card.class_names[result["explained"][i, j]])
                path = os.path.join(out, "overlays", stem + suffix + ".png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(cams.overlay(batch["image"][i], heatmap)).save(path)
    return paint
