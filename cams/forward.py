"""The model's own forward pass, compiled as its Keras backend runs it fastest: what the metrics
score perturbed images with and what cams.bench measures the methods against; and the count of
the images cams runs through models, which the report records and cams.bench prices."""
import statistics
import threading
import time

import numpy as np

_counted = {"forward": 0, "gradient": 0}
_lock = threading.Lock()   # the metrics run the model on a worker thread


def count(kind, n):
    """Record n images run through a model: "forward" (outputs only: the metrics, Score-CAM's
    masked copies) or "gradient" (outputs, then a backward pass: the gradient methods)."""
    with _lock:
        _counted[kind] += int(n)


def median_seconds(fn, repeats):
    """The median wall time of `repeats` calls of fn(), after one untimed call (tracing, graph
    building and caches are not what is measured)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def passes():
    """{"forward": n, "gradient": n}: the images cams' backends and metrics have run through
    a model in this process so far (the tf-keras-vis backend's, run by that library, are not
    counted)."""
    with _lock:
        return dict(_counted)


def forward_pass(model):
    """(name, function(x) -> outputs as NumPy): a tf.function (one trace for every batch size of
    a single-input model), jax.jit of stateless_call with the weights passed in at each call
    (never baked in: a model trained further is run with its new weights), or the model called
    under torch.no_grad()."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable, frozen = model.trainable_variables, model.non_trainable_variables
        jitted = jax.jit(lambda t, f, x: model.stateless_call(t, f, x, training=False)[0])

        def forward(x):
            count("forward", len(x))
            return np.asarray(jitted([v.value for v in trainable], [v.value for v in frozen], x))
        return "forward pass (jitted)", forward
    if backend == "torch":
        import torch

        def forward(x):
            count("forward", len(x))
            with torch.no_grad():
                return keras.ops.convert_to_numpy(model(x, training=False))
        return "forward pass (no_grad)", forward
    if backend != "tensorflow":
        raise ValueError(f"cams runs models on Keras' tensorflow, jax or torch backend, not "
                         f"{backend!r}")
    import tensorflow as tf

    inputs = getattr(model, "inputs", None) or []
    signature = ([tf.TensorSpec((None,) + tuple(inputs[0].shape)[1:], tf.float32)]
                 if len(inputs) == 1 else None)
    compiled = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def forward(x):
        count("forward", len(x))
        return compiled(tf.constant(x)).numpy()
    return "forward pass (compiled)", forward
