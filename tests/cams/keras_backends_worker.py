"""Explain saved models in whatever Keras backend this process runs, for test_keras_backends.

    KERAS_BACKEND=jax python -m tests.cams.keras_backends_worker JOBS.json OUT_DIR

Each job names a model (a .keras file, or "subclassed:<weights.npz>"; "frozen": true makes it
trainable=False), images (.npy, or a list of them for a model with several inputs) and
cams.explain's keyword arguments, or a folder to audit ("audit": cams.audit's arguments); its
results go to OUT_DIR/<job name>.npz. OUT_DIR/info.json
says which Keras backend ran, cams.BACKENDS, and whether TensorFlow was imported: the test makes
importing it fail in the JAX and PyTorch processes (Keras then does without it), so a run that
used it anywhere fails. Only keras, numpy and cams are imported here: this module is also
imported by the TensorFlow test process, which computes the reference the same way.
"""
import json
import os
import sys

import keras
import numpy as np

import cams


@keras.saving.register_keras_serializable(package="cams_tests")
class SubclassedNet(keras.Model):
    """A subclassed CNN: conv, ReLU, a skip connection, pooling, a softmax head."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")
        self.conv2 = keras.layers.Conv2D(8, 3, padding="same", name="conv2")
        self.relu = keras.layers.ReLU(name="relu")
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(4, activation="softmax", name="head")

    def call(self, x):
        a = self.conv1(x)
        return self.head(self.pool(self.relu(self.conv2(a)) + a))


def subclassed(weights=None, size=32):
    """A built SubclassedNet, with the weights saved in `weights` (.npz) if given."""
    net = SubclassedNet(name="subclassed_net")
    net(np.zeros((1, size, size, 3), np.float32))
    if weights is not None:
        with np.load(weights) as saved:
            net.set_weights([saved[f"w{k}"] for k in range(len(saved.files))])
    return net


def _load(job, loaded):
    spec = job["model"]
    if spec not in loaded:
        if spec.startswith("subclassed:"):
            loaded[spec] = subclassed(spec.split(":", 1)[1])
        else:
            if job.get("kerashub"):
                import keras_hub  # noqa: F401  (registers KerasHub's classes for loading)
            loaded[spec] = keras.saving.load_model(spec, compile=False)
    if job.get("frozen"):
        loaded[spec].trainable = False  # tensors that require no grad under torch
    return loaded[spec]


def _images(spec):
    return np.load(spec) if isinstance(spec, str) else [np.load(p) for p in spec]


def _arrays(res):
    found = {"heatmaps": res.heatmaps, "class_index": res.class_index, "outputs": res.outputs,
             "layer": np.asarray(res.layer)}
    if res.attributions is not None:
        found["attributions"] = res.attributions
    return found


def _reweighted(model, x, kwargs):
    """Maps before and after the model's weights change (the backend's cache kept), and after
    the caches are dropped: a backend reading stale weights makes "after" differ from "fresh"."""
    before = cams.explain(model, x, **kwargs).heatmaps
    for layer in model.layers:
        if layer.name == kwargs["layer"]:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel[..., ::-1] * 1.5, bias])
    after = cams.explain(model, x, **kwargs).heatmaps
    cams.forget(model)
    return {"before": before, "after": after, "fresh": cams.explain(model, x, **kwargs).heatmaps}


def _compilations():
    """A function counting XLA compilations so far under JAX (-1 under other Keras backends,
    whose compiled functions take any batch size)."""
    if keras.backend.backend() != "jax":
        return lambda: -1
    import jax

    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kwargs: events.append(event))
    return lambda: sum(e.endswith("backend_compile_duration") for e in events)


def _batched(model, x, kwargs, batch_size):
    """Maps explained batch_size images at a time, and how many compilations the whole run
    needed after one full batch had been explained (0: the short last batch was padded)."""
    count = _compilations()
    start = count()
    cams.explain(model, x[:batch_size], batch_size=batch_size, **kwargs)
    before = count()
    res = cams.explain(model, x, batch_size=batch_size, **kwargs)
    return {**_arrays(res), "compilations": count() - before,
            "first_compilations": before - start}


def _audited(model, kwargs):
    """cams.audit of a folder with this process's default backend: its maps, probabilities,
    score and the boxes it tried."""
    from cams.audit import audit

    found = audit(model, **kwargs)
    boxes = [c["region"] for c in found.result["candidates"]]
    return {"maps": found.maps, "probabilities": found.probabilities,
            "score": found.result["score"], "boxes": np.asarray(boxes, int).reshape(-1, 4)}


def _reported(model, spec):
    """cams.report's metrics of each method on a few images with this process's default
    backend, sharing one randomized copy as the report does: {"METHOD.METRIC": value}."""
    from cams import metrics, report

    x, layer = _images(spec["images"]), spec["layer"]
    classes = cams.explain(model, x, layer=layer).class_index
    copy = report.shared_copy(model, layer)
    reference = metrics.reference_probabilities(model, x, classes)
    found = {}
    for method in spec["methods"]:
        row = report.score_method(model, x, classes, None, None, method, layer,
                                  backend=cams.BACKENDS[0], steps=8, n_random=len(x),
                                  randomized=copy, reference=reference, robustness_samples=2)
        found.update({f"{method}.{k}": v for k, v in row.items()   # the numbers, not the cost
                      if k not in ("seconds_per_image", "forward_passes", "gradient_passes")})
    return found


def run(jobs, out_dir):
    """Run every job; write OUT_DIR/<name>.npz and OUT_DIR/info.json; return the info."""
    loaded = {}
    for job in jobs:
        model = _load(job, loaded)
        if "audit" in job or "report" in job:
            found = (_audited(model, job["audit"]) if "audit" in job
                     else _reported(model, job["report"]))
            np.savez(os.path.join(out_dir, job["name"] + ".npz"), **found)
            continue
        x = _images(job["images"])
        kwargs = job.get("explain", {})
        if job.get("reweight"):
            found = _reweighted(model, x, kwargs)
        elif job.get("batch_size"):
            found = _batched(model, x, kwargs, job["batch_size"])
        else:
            res = cams.explain(model, x, **kwargs)
            if res.backend != cams.BACKENDS[0]:
                raise AssertionError(f"explained with {res.backend}, not the default")
            found = _arrays(res)
        np.savez(os.path.join(out_dir, job["name"] + ".npz"), **found)
    info = {"keras_backend": keras.backend.backend(), "backends": list(cams.BACKENDS),
            "tensorflow": "blocked" if sys.modules.get("tensorflow", 0) is None else
                          "imported" if "tensorflow" in sys.modules else "not imported"}
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump(info, f)
    return info


def main(argv):
    """The command line: JOBS.json OUT_DIR."""
    with open(argv[0]) as f:
        run(json.load(f), argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
