"""Benchmark: Grad-CAM cost of each backend as a multiple of the model's own forward pass.

    python -m cams.bench [--model vgg16|tiny] [--repeats 5] [--batch 16] [--json bench.json]

Per-image latency (batch 1) and batch throughput of each backend on VGG16 224x224 (seeded
weights), beside the compiled forward pass on the same batch, all in one run; plus two peers:
tf-keras-vis called the usual way and a plain, uncompiled GradientTape loop.
"""
import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import cams  # noqa: E402


def _models():
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


def _median_seconds(fn, repeats):
    fn()  # warm: traces, graph building and caches are not what is measured
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _contenders(model, layer, class_index):
    """name -> function(x) doing one Grad-CAM (or one forward pass) of the batch x."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    forward = tf.function(lambda x: model(x, training=False))
    usual = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])

    def plain_tape(x):
        with tf.GradientTape() as tape:
            A, preds = grad_model(x)
            score = preds[:, class_index]
        G = tape.gradient(score, A)
        w = tf.reduce_mean(G, axis=(1, 2))
        return tf.nn.relu(tf.einsum("nhwk,nk->nhw", A, w)).numpy()

    contenders = {"forward pass (compiled)": lambda x: forward(tf.constant(x)).numpy()}
    for backend in cams.BACKENDS:
        contenders[f"cams {backend}"] = (
            lambda x, b=backend: cams.explain(model, x, layer=layer, class_index=class_index,
                                              backend=b))
    contenders["peer: tf-keras-vis usual"] = lambda x: usual(
        CategoricalScore([class_index] * len(x)), x, penultimate_layer=layer)
    contenders["peer: plain GradientTape"] = plain_tape
    return contenders


def run(model_name="vgg16", repeats=5, batch=16):
    """Measure every contender at batch 1 and at `batch`; return the report as a dict."""
    model, layer, class_index = _models()[model_name]()
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    rows = []
    forward_time = {}
    for name, fn in _contenders(model, layer, class_index).items():
        row = {"name": name}
        for n in (1, batch):
            x = rng.uniform(-1, 1, (n,) + shape).astype(np.float32)
            seconds = _median_seconds(lambda: fn(x), repeats)
            forward_time.setdefault(n, seconds)
            row[f"batch{n}_s"] = seconds
            row[f"batch{n}_ratio"] = seconds / forward_time[n]
        row["images_per_s"] = batch / row[f"batch{batch}_s"]
        rows.append(row)
    return {"model": model_name, "layer": layer, "input": list(shape), "batch": batch,
            "repeats": repeats, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "tensorflow": tf.__version__, "keras": keras.__version__, "rows": rows}


def table(report):
    """The report as a Markdown table."""
    b = report["batch"]
    lines = [f"| {report['model']} {'x'.join(map(str, report['input']))}, layer "
             f"{report['layer']} | batch 1 (ms) | x forward | batch {b} (ms) | x forward "
             "| images/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in report["rows"]:
        lines.append(f"| {row['name']} | {row['batch1_s'] * 1e3:.1f} | {row['batch1_ratio']:.2f} "
                     f"| {row[f'batch{b}_s'] * 1e3:.1f} | {row[f'batch{b}_ratio']:.2f} "
                     f"| {row['images_per_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time Grad-CAM backends against the forward pass.")
    parser.add_argument("--model", choices=tuple(_models()), default="vgg16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", default="bench.json", help="where to write the report")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 2:
        parser.error("--repeats must be >= 1 and --batch >= 2")
    report = run(args.model, args.repeats, args.batch)
    print(table(report))
    print(f"({report['machine']}, TensorFlow {report['tensorflow']}, Keras {report['keras']}, "
          f"median of {args.repeats})")
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
