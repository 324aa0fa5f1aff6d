"""Per-model caches that die with the model, and a cheap test of whether its weights changed."""
import threading
import weakref

import numpy as np

_CACHES = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def cached(model, key, build):
    """`build()` once per (model, key); later calls return the same object."""
    with _LOCK:
        per_model = _CACHES.setdefault(model, {})
        if key not in per_model:
            per_model[key] = build()
        return per_model[key]


def lock():
    """The caches' lock, for a caller that must update a cached object atomically."""
    return _LOCK


def forget(model=None):
    """Drop what was cached for `model` (or for every model): compiled functions, graphs, clones."""
    with _LOCK:
        if model is None:
            _CACHES.clear()
        else:
            _CACHES.pop(model, None)


class WeightsWatch:
    """Tells whether a model's weights changed since the last look, from a 16-value sample each.

    Backends that hold a copy of the weights (the graph backend's session, tf-keras-vis' clone)
    re-copy them only when this says so: training changes every sampled value. TensorFlow only
    (those backends and tf_keras models exist only there); imported here, when first used.
    """

    def __init__(self, variables):
        import tensorflow as tf

        self._variables = list(variables)
        self._sample = tf.function(self._take_sample)
        self._last = None

    def _take_sample(self):
        import tensorflow as tf

        parts = []
        for v in self._variables:
            flat = tf.reshape(tf.cast(v, tf.float32), [-1])
            step = max(1, int(np.prod(v.shape)) // 16)
            parts.append(flat[::step])
        return tf.concat(parts, axis=0)

    def changed(self):
        """True on the first call and whenever a sampled weight differs from the last call."""
        now = self._sample().numpy()
        moved = self._last is None or not np.array_equal(now, self._last, equal_nan=True)
        self._last = now
        return moved
