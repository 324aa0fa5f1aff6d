"""The model's probability for a class, batched and compiled once per model: what every
perturbation metric measures."""
import numpy as np
import tensorflow as tf

from cams import cache, layers, scores


def _probabilities_fn(model):
    spec = layers.model_inputs(model)
    if len(spec.names) > 1:
        raise ValueError(f"the metrics perturb a model's only input; {model.name!r} takes "
                         f"{', '.join(spec.names)}")
    head = scores.head_of(model, layers.leaves(model)[-1])

    @tf.function(input_signature=[
        tf.TensorSpec((None,) + spec.image_shape[1:], tf.float32),
        tf.TensorSpec((None,), tf.int32)])
    def probability(x, classes):
        return scores.probability_from_outputs(model(x, training=False), classes, head)
    return probability


def class_probability(model, x, classes, batch_size=64):
    """The model's probability (M,) of classes[i] for image x[i], in batches of batch_size."""
    return class_probability_of_blocks(model, [(x, classes)], batch_size)


def class_probability_of_blocks(model, blocks, batch_size=64):
    """The probabilities (sum of M_j,) of every image of `blocks`, an iterable of (images
    (M_j, H, W, C), class (M_j,) or one int), in order. Images of consecutive blocks share
    forward passes of batch_size, so that many small blocks (one image's perturbed copies)
    cost what one large batch does; at most batch_size images wait in memory."""
    fn = cache.cached(model, "class_probability", lambda: _probabilities_fn(model))
    found, images, labels, waiting = [], [], [], 0
    for x, classes in blocks:
        x = np.asarray(x, np.float32)
        images.append(x)
        labels.append(np.broadcast_to(np.asarray(classes, np.int32), (len(x),)))
        waiting += len(x)
        if waiting >= batch_size:
            found += _run(fn, images, labels, batch_size, keep_rest=True)
            waiting = len(images[0]) if images else 0
    found += _run(fn, images, labels, batch_size, keep_rest=False)
    return np.concatenate(found) if found else np.zeros(0, np.float32)


def _run(fn, images, labels, batch_size, keep_rest):
    """Probabilities of the waiting images in full batches (and the rest unless keep_rest);
    what is not run stays in images/labels, which are emptied of what was."""
    if not images:
        return []
    x, classes = np.concatenate(images), np.concatenate(labels)
    end = len(x) - len(x) % batch_size if keep_rest else len(x)
    images[:] = [x[end:]] if end < len(x) else []
    labels[:] = [classes[end:]] if end < len(x) else []
    return [fn(tf.constant(x[i:i + batch_size]), tf.constant(classes[i:i + batch_size])).numpy()
            for i in range(0, end, batch_size)]
