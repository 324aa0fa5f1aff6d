"""Benchmark: the cost of each backend and each method as a multiple of the model's own
forward pass, measured in the same run.

    python -m cams.bench [--model vgg16|tiny] [--repeats 5] [--batch 16] [--json bench.json]
    python -m cams.bench --dataset [--images 1200] [--rss-images 5000]   (cams.dataset.bench)
    python -m cams.bench --report --data DIR [--quick] [-- REPORT OPTIONS]  (cams.report_cost)
    KERAS_BACKEND=jax python -m cams.bench ...     (or torch: Keras on JAX / PyTorch)

Under JAX and PyTorch the baseline is that Keras backend's own forward pass: jax.jit of
model.stateless_call (weights passed in at each call, as cams' jax backend does), or the model
called under torch.no_grad(); the TensorFlow-only peers (tf-keras-vis, GradientTape) are left out.

Backends: per-image latency (batch 1) and batch throughput of Grad-CAM in each backend on VGG16
224x224 (seeded weights), beside the compiled forward pass on the same batch; plus two peers:
tf-keras-vis called the usual way and a plain, uncompiled GradientTape loop.
Methods: every method in the eager backend, the same way. Score-CAM needs one forward pass per
channel: it is timed per image, its masked images going through the model 32 at a time, with
all channels and with the top 32 (Faster Score-CAM), beside tf-keras-vis' Scorecam.
Labels: a CheXNet-style DenseNet121 with 14 sigmoid labels (with --model tiny, a tiny model with
5): every label's Grad-CAM in one call (class_index="all") against 14 separate calls and the
forward pass.
"""
import argparse
import functools
import json
import os
import platform
import sys

import numpy as np

import cams
from cams.forward import forward_pass, median_seconds

MODELS = ("vgg16", "tiny")


def _models():
    """name -> function building (model, layer, class) with seeded weights."""
    import keras

    def vgg16():
        keras.utils.set_random_seed(0)
        return keras.applications.VGG16(weights=None), "block5_conv3", 251

    def tiny():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x)), "conv", 1

    return {"vgg16": vgg16, "tiny": tiny}


def _labels_models():
    """name -> function building a seeded multi-label model (sigmoid head) and its label count:
    a CheXNet-style DenseNet121 with 14 labels, or the tiny model with 5."""
    import keras

    def densenet121():
        keras.utils.set_random_seed(0)
        base = keras.applications.DenseNet121(weights=None, include_top=False,
                                              input_shape=(224, 224, 3))
        inputs = keras.Input((224, 224, 3))
        x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
        outputs = keras.layers.Dense(14, activation="sigmoid", name="labels")(x)
        return keras.Model(inputs, outputs, name="chexnet_like"), 14

    def tiny():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(5, activation="sigmoid")(x)), 5

    return {"vgg16": densenet121, "tiny": tiny}


def keras_backend():
    """The backend Keras runs on in this process ("tensorflow", "jax" or "torch")."""
    import keras

    return keras.backend.backend()


def _labels_contenders(model, n_labels):
    """name -> function(x): the forward pass, every label's Grad-CAM in one call, and the same
    maps as n_labels separate calls (what a per-class API costs)."""
    name, forward = forward_pass(model)
    return {
        name: forward,
        f"all {n_labels} labels, one call": lambda x: cams.explain(model, x, class_index="all"),
        f"{n_labels} separate calls": lambda x: [cams.explain(model, x, class_index=c)
                                                 for c in range(n_labels)],
    }


def _contenders(model, layer, class_index):
    """name -> function(x) doing one Grad-CAM (or one forward pass) of the batch x: the forward
    pass first, then each cams backend, then (under TensorFlow) two peers."""
    name, forward = forward_pass(model)
    contenders = {name: forward}
    for backend in cams.BACKENDS:
        contenders[f"cams {backend}"] = (
            lambda x, b=backend: cams.explain(model, x, layer=layer, class_index=class_index,
                                              backend=b))
    if keras_backend() == "tensorflow":
        contenders.update(_tensorflow_peers(model, layer, class_index))
    return contenders


def _tensorflow_peers(model, layer, class_index):
    """name -> function(x): tf-keras-vis called the usual way and a plain GradientTape."""
    import keras
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    usual = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])

    def plain_tape(x):
        with tf.GradientTape() as tape:
            A, preds = grad_model(x)
            score = preds[:, class_index]
        G = tape.gradient(score, A)
        w = tf.reduce_mean(G, axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwk,nk->nhw", A, w)).numpy()

    return {"peer: tf-keras-vis usual": lambda x: usual(
        CategoricalScore([class_index] * len(x)), x, penultimate_layer=layer),
            "peer: plain GradientTape": plain_tape}


def _method_contenders(model, layer, class_index):
    """name -> function(x) computing one method's maps of the batch x (default backend)."""
    out = {}
    for method in cams.METHODS:
        if method != "scorecam":
            out[method] = (lambda x, m=method: cams.explain(
                model, x, layer=layer, class_index=class_index, method=m))
    return out


def _scorecam_rows(model, layer, class_index, forward_one):
    """Score-CAM seconds per image (masked images in batches of 32) and ratios to one forward;
    beside tf-keras-vis' Scorecam under TensorFlow."""
    x = np.random.default_rng(1).uniform(-1, 1, (1,) + tuple(model.inputs[0].shape[1:]))
    x = x.astype(np.float32)
    channels = int(cams.resolve_layer(model, layer).shape[-1])
    k = min(32, channels)
    cases = {
        f"scorecam, all {channels} channels": lambda: cams.explain(
            model, x, layer=layer, class_index=class_index, method="scorecam", masks_per_pass=32),
        f"scorecam, top {k} channels": lambda: cams.explain(
            model, x, layer=layer, class_index=class_index, method="scorecam", masks_per_pass=32,
            top_k=k),
    }
    if keras_backend() == "tensorflow":
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        usual = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
        usual.model.predict = functools.partial(usual.model.predict, verbose=0)  # no bars
        cases[f"peer: tf-keras-vis Scorecam usual, top {k}"] = lambda: usual(
            CategoricalScore([class_index]), x, penultimate_layer=layer, max_N=k, batch_size=32)
    rows = []
    for name, fn in cases.items():
        seconds = median_seconds(fn, 1)
        rows.append({"name": name, "seconds_per_image": seconds,
                     "ratio_to_forward": seconds / forward_one})
    return rows


def run(model_name="vgg16", repeats=5, batch=16, methods=True, labels=True, backends=True):
    """Measure every contender at batch 1 and at `batch`; return the report as a dict."""
    import importlib

    import keras

    from cams import backends

    model, layer, class_index = _models()[model_name]()
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    forward_time = {}

    def measure(contenders):
        rows = []
        for name, fn in contenders.items():
            row = {"name": name}
            for n in (1, batch):
                x = rng.uniform(-1, 1, (n,) + shape).astype(np.float32)
                seconds = median_seconds(lambda: fn(x), repeats)
                forward_time.setdefault(n, seconds)
                row[f"batch{n}_s"] = seconds
                row[f"batch{n}_ratio"] = seconds / forward_time[n]
            row["images_per_s"] = batch / row[f"batch{batch}_s"]
            rows.append(row)
        return rows

    report = {"model": model_name, "layer": layer, "input": list(shape), "batch": batch,
              "repeats": repeats, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "keras": keras.__version__, "keras_backend": keras_backend(),
              "backend_version": importlib.import_module(keras_backend()).__version__,
              "rows": measure(_contenders(model, layer, class_index)) if backends else []}
    if methods:
        report["method_rows"] = measure(_method_contenders(model, layer, class_index))
        report["method_backend"] = backends.DEFAULT
        report["scorecam_rows"] = _scorecam_rows(model, layer, class_index, forward_time[1])
    if labels:
        labelled, n_labels = _labels_models()[model_name]()
        shape = tuple(labelled.inputs[0].shape[1:])
        report["labels_model"] = {"name": labelled.name, "labels": n_labels,
                                  "layer": cams.resolve_layer(labelled).path,
                                  "input": list(shape)}
        forward_time.clear()  # measured against this model's own forward pass, its first row
        report["labels_rows"] = measure(_labels_contenders(labelled, n_labels))
    return report


def table(report):
    """The report as Markdown tables: backends, then methods, then Score-CAM."""
    b = report["batch"]
    title = f"{report['model']} {'x'.join(map(str, report['input']))}, layer {report['layer']}"

    def rows_table(first, rows):
        lines = [f"| {first} | batch 1 (ms) | x forward | batch {b} (ms) | x forward "
                 "| images/s |", "|---|---:|---:|---:|---:|---:|"]
        for row in rows:
            lines.append(f"| {row['name']} | {row['batch1_s'] * 1e3:.1f} "
                         f"| {row['batch1_ratio']:.2f} | {row[f'batch{b}_s'] * 1e3:.1f} "
                         f"| {row[f'batch{b}_ratio']:.2f} | {row['images_per_s']:.1f} |")
        return lines

    lines = rows_table(title + ", Grad-CAM", report["rows"]) if report["rows"] else []
    if "method_rows" in report:
        lines += ([""] if lines else []) + rows_table(
            f"{title}, {report['method_backend']} backend", report["method_rows"])
        lines += ["", f"| {title}, one image | s/image | x one forward pass |", "|---|---:|---:|"]
        lines += [f"| {row['name']} | {row['seconds_per_image']:.2f} "
                  f"| {row['ratio_to_forward']:.0f} |" for row in report["scorecam_rows"]]
    if "labels_rows" in report:
        m = report["labels_model"]
        lines += ([""] if lines else []) + rows_table(
            f"{m['name']} {'x'.join(map(str, m['input']))}, {m['labels']} sigmoid labels, "
            f"layer {m['layer']}, Grad-CAM of every label", report["labels_rows"])
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cams.bench",
                                     description="Time Grad-CAM backends against the forward pass.")
    parser.add_argument("--model", choices=MODELS, default="vgg16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", default="bench.json", help="where to write the report")
    parser.add_argument("--backends-only", action="store_true",
                        help="skip the per-method, Score-CAM and multi-label tables")
    parser.add_argument("--labels-only", action="store_true",
                        help="only the multi-label table (every label in one call)")
    parser.add_argument("--dataset", action="store_true",
                        help="a dataset run over files against the forward pass over the same "
                             "files (cams.dataset.bench; --dataset-model, --images, ...)")
    parser.add_argument("--dataset-model", default="models/xray_phantoms.keras")
    parser.add_argument("--images", type=int, default=1200,
                        help="files for --dataset (speeds from the 400th to the last)")
    parser.add_argument("--dataset-batch", type=int, default=32, help="batch for --dataset")
    parser.add_argument("--rss-images", type=int, default=5000,
                        help="--dataset: the long run whose memory is reported (0: none)")
    parser.add_argument("--report", action="store_true",
                        help="the trust report's wall time against its forward-pass floor "
                             "(cams.report_cost; --data, --report-model, --quick)")
    parser.add_argument("--report-model", default="models/xray_phantoms.keras")
    parser.add_argument("--data", help="--report: the report's images (class-per-folder)")
    parser.add_argument("--quick", action="store_true",
                        help="--report: the quick preset too, and its ranking agreement")
    parser.add_argument("report_args", nargs="*",
                        help="--report: options for cams.report, after --")
    args = parser.parse_args(argv)
    if args.dataset:
        return _dataset(args)
    if args.report:
        if not args.data:
            parser.error("--report needs --data DIR, the report's images (e.g. python -m "
                         "train.phantoms --out DIR --n 24 --seed 4242)")
        return _report(args)
    if args.repeats < 1 or args.batch < 2:
        parser.error("--repeats must be >= 1 and --batch >= 2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    report = run(args.model, args.repeats, args.batch,
                 methods=not (args.backends_only or args.labels_only),
                 labels=not args.backends_only, backends=not args.labels_only)
    print(table(report))
    print(f"({report['machine']}, Keras {report['keras']} on {report['keras_backend']} "
          f"{report['backend_version']}, "
          f"median of {args.repeats})")
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Wrote {args.json}")
    return 0


def _report(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # as python -m cams.report does
    from cams import report_cost

    out = os.path.splitext(args.json)[0] + "_reports"
    try:
        found = report_cost.run(args.report_model, args.data, out, args.report_args, args.quick)
    except (FileNotFoundError, ValueError, RuntimeError) as err:   # said in one sentence
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report_cost.table(found))
    with open(args.json, "w") as f:
        json.dump(found, f, indent=2)
    print(f"Wrote {args.json} (the reports in {out})")
    return 0


def _dataset(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from cams.dataset import bench

    report = bench.run(args.dataset_model, args.images, args.rss_images,
                       batch_size=args.dataset_batch, labels=not args.backends_only)
    print(bench.table(report))
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
