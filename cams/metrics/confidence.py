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
    fn = cache.cached(model, "class_probability", lambda: _probabilities_fn(model))
    x = np.asarray(x, np.float32)
    classes = np.broadcast_to(np.asarray(classes, np.int32), (len(x),))
    return np.concatenate([fn(tf.constant(x[i:i + batch_size]),
                              tf.constant(classes[i:i + batch_size])).numpy()
                           for i in range(0, len(x), batch_size)])
