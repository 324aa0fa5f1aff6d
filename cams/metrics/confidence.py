"""The model's probability for a class, batched and compiled once per model: what every
perturbation metric measures."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cams import cache
from cams.model import layers, scores


def _probabilities_fn(model):
    """fn(images float32 (B, H, W, C), classes int32 (B,), n) -> the probabilities (n,) of the
    first n images as NumPy, through the model's compiled forward pass (cams.forward). Under
    JAX the whole buffer of B images runs, so that every batch has one shape and JAX compiles
    once."""
    import keras

    from cams.forward import forward_pass

    spec = layers.model_inputs(model)
    if len(spec.names) > 1:
        raise ValueError(f"the metrics perturb a model's only input; {model.name!r} takes "
                         f"{', '.join(spec.names)}")
    head = scores.head_of(model, layers.leaves(model)[-1])
    _, forward = forward_pass(model)
    whole = keras.backend.backend() == "jax"

    def probability(x, classes, n):
        outputs = forward(x)[:n] if whole else forward(x[:n])
        return keras.ops.convert_to_numpy(
            scores.probability_from_outputs(outputs, classes[:n], head))
    return probability


def class_probability(model, x, classes, batch_size=32):
    """The model's probability (M,) of classes[i] for image x[i], in batches of batch_size."""
    return class_probability_of_blocks(model, [(x, classes)], batch_size)


def class_probability_of_blocks(model, blocks, batch_size=32):
    """The probabilities (sum of M_j,) of every image of `blocks`, an iterable of (images
    (M_j, H, W, C), class (M_j,) or one int), in order. Images of consecutive blocks share
    forward passes of batch_size, so that many small blocks (one image's perturbed copies)
    cost what one large batch does.

    Each block is copied into a batch buffer before the next one is drawn (a producer may reuse
    its arrays). A full batch goes through the model on a worker thread while the next one is
    filled, so the blocks' producer and the model overlap; two buffers, no more, wait."""
    fn = cache.cached(model, "class_probability", lambda: _probabilities_fn(model))
    found, current, spare, running = [], None, None, None
    with ThreadPoolExecutor(1) as model_thread:
        for x, classes in blocks:
            x = np.asarray(x, np.float32)
            classes = np.broadcast_to(np.asarray(classes, np.int32), (len(x),))
            if current is None:
                current, spare = _Batch(batch_size, x.shape[1:]), _Batch(batch_size, x.shape[1:])
            while len(x):
                taken = current.fill(x, classes)
                x, classes = x[taken:], classes[taken:]
                if current.full():
                    if running is not None:
                        found.append(running.result())     # `spare` is free again
                    running = model_thread.submit(current.run, fn)
                    current, spare = spare, current
        if running is not None:
            found.append(running.result())
        if current is not None and current.filled:
            found.append(current.run(fn))
    return np.concatenate(found) if found else np.zeros(0, np.float32)


class _Batch:
    """A buffer of batch_size images (H, W, C) and their classes, filled block by block."""

    def __init__(self, batch_size, image_shape):
        self.images = np.empty((batch_size,) + tuple(image_shape), np.float32)
        self.classes = np.empty(batch_size, np.int32)
        self.filled = 0

    def fill(self, x, classes):
        """Copy the first images of x (and their classes) that fit; how many were copied."""
        taken = min(len(self.images) - self.filled, len(x))
        self.images[self.filled:self.filled + taken] = x[:taken]
        self.classes[self.filled:self.filled + taken] = classes[:taken]
        self.filled += taken
        return taken

    def full(self):
        return self.filled == len(self.images)

    def run(self, fn):
        """fn's probabilities (filled,) of the filled images; the buffer is empty after."""
        n, self.filled = self.filled, 0
        return fn(self.images, self.classes, n)
