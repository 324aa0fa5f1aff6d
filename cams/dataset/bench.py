"""python -m cams.bench --dataset: a dataset run's speed as a ratio to the model's own forward
pass over the same files, and its memory as the dataset grows.

Writes `--images` PNG files (seeded smooth random images at the model's input size), then, in
one process: (1) the forward pass over them into a compiled model call, through a tf.data
pipeline (parallel decode and resize, batch, prefetch) and through cams' threaded reader, each
timed before and after (2), the faster counting; (2) the dataset step's Grad-CAM over the same
files, through the reader, the step and the store as `python -m cams.dataset` runs them;
(3) the same for every label of a 14-label sigmoid head (a CheXNet-style MobileNetV2 stand-in);
(4) the resident memory after 1,000 and after `--rss-images` images of a long run (the files
listed again and again in a CSV).
"""
import os
import tempfile
import time

import numpy as np

from cams.dataset import engine, reader, store as stores
from cams.io import sources
from cams.dataset.step import ExplainStep


def rss_mb():
    """This process's resident memory in MB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_files(folder, n, size, seed=0):
    """n seeded smooth random RGB PNGs of (size, size) in `folder`; returns their Items."""
    from PIL import Image

    from cams.check import random_images

    os.makedirs(folder, exist_ok=True)
    for start in range(0, n, 100):
        for i, image in enumerate(random_images((size, size, 3), min(100, n - start),
                                                seed + start)):
            Image.fromarray(image).save(os.path.join(folder, f"{start + i:06d}.png"))
    return sources.from_folder(folder)


# images/s is measured from the batch that passes this many images to the last: the marginal
# speed, which a pipeline's start (threads, tracing, the first reads) does not weigh on
FROM_IMAGES = 400


class _Clock:
    """Marginal images/s: from the moment `start_at` images are done to the last image."""

    def __init__(self, start_at=FROM_IMAGES):
        self.start_at, self.done, self.since = start_at, 0, None

    def tick(self, n):
        self.done += n
        if self.since is None and self.done >= self.start_at:
            self.since = (self.done, time.perf_counter())

    def images_per_s(self):
        if self.since is None or self.done == self.since[0]:
            raise ValueError(f"the benchmark needs more than {self.start_at} images (one batch "
                             f"past it at least); got {self.done}")
        return (self.done - self.since[0]) / (time.perf_counter() - self.since[1])


def forward_images_per_s(model, card, items, batch_size, start_at=FROM_IMAGES):
    """Marginal images/s (_Clock) of the compiled forward pass over the files through tf.data
    (parallel decode, batch, prefetch)."""
    import tensorflow as tf

    H, W = (int(s) for s in card.input_size[:2])
    preprocess = card.preprocess

    def load(path):
        image = tf.io.decode_png(tf.io.read_file(path), channels=3)
        return preprocess(tf.image.resize(image, (H, W)))

    data = (tf.data.Dataset.from_tensor_slices([i.path for i in items])
            .map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
            .prefetch(tf.data.AUTOTUNE))
    forward = tf.function(lambda x: model(x, training=False))
    forward(next(iter(data)))  # trace once
    clock = _Clock(start_at)
    for x in data:
        forward(x).numpy()
        clock.tick(len(x))
    return clock.images_per_s()


def reader_forward_images_per_s(model, card, items, batch_size, workers,
                                start_at=FROM_IMAGES):
    """Marginal images/s of the compiled forward pass fed by cams' own threaded reader."""
    import tensorflow as tf

    size = tuple(int(s) for s in card.input_size[:2])
    forward = tf.function(lambda x: model(x, training=False))
    forward(card.preprocess(np.zeros((1,) + size + (3,), np.float32)))  # trace once
    clock = _Clock(start_at)
    for batch in reader.batches(items, np.arange(len(items)), size, lambda item: -1,
                                batch_size, workers):
        forward(card.preprocess(batch["image"].astype(np.float32))).numpy()
        clock.tick(len(batch["row"]))
    return clock.images_per_s()


def best_forward(model, card, items, batch_size, workers, start_at=FROM_IMAGES):
    """{"tf.data": images/s, "threads": images/s}: the forward pass through both pipelines."""
    return {"tf.data": forward_images_per_s(model, card, items, batch_size, start_at),
            "threads": reader_forward_images_per_s(model, card, items, batch_size, workers,
                                                   start_at)}


def step_images_per_s(step, items, out, batch_size, workers, marks=(), start_at=FROM_IMAGES,
                      timed=True):
    """Marginal images/s of the dataset step over `items` into a fresh store at `out` (step
    warmed first; None when not `timed`), and the RSS in MB once each count in `marks` is
    passed."""
    step.empty(1)  # trace once
    size = tuple(int(s) for s in step.card.input_size[:2])
    store = stores.Store(out, {"bench": True}, len(items), batch_size)
    label_of = (lambda item: -1)
    rss, clock = {}, _Clock(start_at)

    def on_batch(batch, result):
        clock.tick(len(batch["row"]))
        for mark in marks:
            if mark not in rss and clock.done >= mark:
                rss[mark] = rss_mb()

    engine.run(step, reader.batches(items, np.arange(len(items)), size, label_of, batch_size,
                                    workers), lambda result, batch: store.write(result), on_batch)
    return (clock.images_per_s() if timed else None), rss


def _versus_forward(model, card, step, items, out, batch_size, workers, name, start_at):
    """The step's images/s and its ratio to the faster forward pipeline, the forward passes
    timed just before and just after the step (the best of each counts: a busy machine
    slows a pass, never speeds it)."""
    before = best_forward(model, card, items, batch_size, workers, start_at)
    speed, _ = step_images_per_s(step, items, out, batch_size, workers, start_at=start_at)
    after = best_forward(model, card, items, batch_size, workers, start_at)
    forward = {k: max(before[k], after[k]) for k in before}
    best = max(forward.values())
    return {f"{name}_forward_images_per_s": forward, f"{name}_images_per_s": speed,
            f"{name}_ratio": speed / best}


def labels_model(path, n_labels=14, size=224):
    """A CheXNet-style multi-label model (MobileNetV2 alpha 0.35 base, seeded weights, global
    pooling, n_labels sigmoid units) saved at `path` with its card; returns the path."""
    import keras

    from cams.io import modelcard

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2((size, size, 3), alpha=0.35, include_top=False,
                                          weights=None)
    inputs = keras.Input((size, size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(n_labels, activation="sigmoid")(pooled))
    model.save(path)
    modelcard.write(path, modelcard.ModelCard(tuple(f"finding {i}" for i in range(n_labels)),
                                              (size, size, 3), "mobilenetv2"))
    return path


def run(model_path, n_images=1200, rss_images=5000, batch_size=32, workers=4, labels=True):
    """The benchmark's report as a dict (images/s, ratios to the forward pass, RSS)."""
    from cams.io import modelcard

    # from the 400th image, or from a third of a smaller set
    start_at = min(FROM_IMAGES, n_images // 3)
    report = {"model": os.path.basename(model_path), "images": n_images, "from_image": start_at,
              "batch_size": batch_size, "machine": f"{os.cpu_count()} CPU cores"}
    with tempfile.TemporaryDirectory() as tmp:
        model, card = modelcard.load(model_path)
        items = write_files(os.path.join(tmp, "files"), n_images, int(card.input_size[0]))
        step = ExplainStep(model, card)
        report.update(_versus_forward(model, card, step, items, os.path.join(tmp, "g"),
                                      batch_size, workers, "gradcam", start_at))
        if labels:
            path = labels_model(os.path.join(tmp, "labels14.keras"))
            labelled, labelled_card = modelcard.load(path)
            report.update(_versus_forward(
                labelled, labelled_card, ExplainStep(labelled, labelled_card, classes="all"),
                items, os.path.join(tmp, "l"), batch_size, workers, "labels", start_at))
        if rss_images:
            repeats = -(-rss_images // len(items))
            long = (items * repeats)[:rss_images]
            report["rss_start_mb"] = rss_mb()
            _, rss = step_images_per_s(step, long, os.path.join(tmp, "r"), batch_size, workers,
                                       marks=(1000, rss_images), timed=False)
            report["rss_mb"] = {str(k): v for k, v in rss.items()}
    return report


def table(report):
    """The report as a Markdown table."""
    lines = [f"{report['model']}, {report['images']} PNG files, batch {report['batch_size']}, "
             f"{report['machine']}; images/s from image {report['from_image']} to the last", "",
             "| run | images/s | x forward pass |", "|---|---:|---:|"]
    for name, title in (("gradcam", "Grad-CAM"), ("labels", "14-label head: every label")):
        if f"{name}_ratio" not in report:
            continue
        forward = report[f"{name}_forward_images_per_s"]
        best = max(forward.values())
        prefix = "14-label head: " if name == "labels" else ""
        lines += [f"| {prefix}forward pass, {pipe} pipeline | {speed:.1f} | {speed / best:.2f} |"
                  for pipe, speed in forward.items()]
        lines.append(f"| {title}, cams.dataset | {report[f'{name}_images_per_s']:.1f} "
                     f"| {report[f'{name}_ratio']:.2f} |")
    if "rss_mb" in report:
        marks = sorted(report["rss_mb"], key=int)
        lines += ["", "RSS: " + ", ".join(f"{report['rss_mb'][m]:.0f} MB after {m} images"
                                          for m in marks)
                  + f" (growth {report['rss_mb'][marks[-1]] - report['rss_mb'][marks[0]]:+.0f} MB)"]
    return "\n".join(lines)
