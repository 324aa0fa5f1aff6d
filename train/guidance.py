"""Lesion-mask guidance: teach a classifier *where* the evidence is, where masks are known.

Trained on labels alone, a classifier takes the cheapest evidence it finds; on the phantoms that
is a lesion's lower rim against dark lung, so its Grad-CAM peaks just below the lesion. Where
the true masks are known (phantoms; a folder with a masks folder), an extra loss supervises the
class activation map of each masked image's own class (the head's dense weights applied to every
cell of the base's feature map, Zhou et al. 2016): the map's softmax over cells must put its
mass on the cells the lesion covers. That is external supervision of the attention map, as in
GAIN (Li et al. 2018); classification is still learned from the labels.

For a global-pooling head ending in a dense layer, the Grad-CAM of the class logit is the ReLU
of this very map (the pooled gradient of each channel is its dense weight over the cell count),
so the supervision is of the map that Grad-CAM draws, not of a proxy.
"""
import keras
import tensorflow as tf

_EPS = 1e-7


def check_head(head):
    """The dense layer ending a global-pooling head, or a ValueError saying why not."""
    pools = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
    if not isinstance(head[0], pools) or not isinstance(head[-1], keras.layers.Dense):
        raise ValueError("mask guidance needs a global pooling head ending in a dense layer "
                         "(mobilenetv2 or densenet121, --pooling avg|max); got "
                         + " - ".join(type(layer).__name__ for layer in head))
    return head[-1]


def class_maps(features, kernel, labels):
    """Each image's class activation map for its own label: (N, h, w)."""
    weights = tf.gather(tf.transpose(kernel), tf.cast(labels, tf.int32))  # (N, channels)
    return tf.einsum("nhwc,nc->nhw", features, weights)


def cell_masks(masks, grid):
    """Share of each feature-map cell covered by the lesion: masks (N, H, W) -> (N, h, w)."""
    covered = tf.image.resize(tf.cast(masks, tf.float32)[..., None], grid, method="area")
    return covered[..., 0]


def location_loss(maps, cells):
    """-log of the softmax mass of `maps` on lesion cells (weighted by the share each cell is
    covered), averaged over the images that have a lesion; 0 when none has."""
    n = tf.shape(maps)[0]
    logits = tf.reshape(maps, (n, -1))
    share = tf.reshape(cells, (n, -1))
    inside = tf.reduce_logsumexp(logits + tf.math.log(share + _EPS), axis=1)
    per_image = tf.reduce_logsumexp(logits, axis=1) - inside
    has = tf.cast(tf.reduce_max(share, axis=1) > 0, tf.float32)
    return tf.reduce_sum(per_image * has) / tf.maximum(tf.reduce_sum(has), 1.0)


class GuidedTrainer(keras.Model):
    """Trains `net` (whose layers it shares) on batches ((images, masks), labels) with
    loss = cross-entropy + weight * location_loss. Fit this, save `net`."""

    def __init__(self, net, head, weight, **kwargs):
        super().__init__(**kwargs)
        self.dense = check_head(head)
        self.net = net
        self.twin = keras.Model(net.inputs, [head[0].input, net.outputs[0]], name="net_features")
        self.weight = float(weight)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.location_tracker = keras.metrics.Mean(name="location_loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.location_tracker, self.accuracy]

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def _objective(self, data, training):
        (images, masks), labels = data
        features, probabilities = self.twin(images, training=training)
        entropy = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        maps = class_maps(features, self.dense.kernel, labels)
        location = location_loss(maps, cell_masks(masks, tf.shape(features)[1:3]))
        return entropy + self.weight * location, location, labels, probabilities

    def _record(self, total, location, labels, probabilities):
        self.loss_tracker.update_state(total)
        self.location_tracker.update_state(location)
        self.accuracy.update_state(labels, probabilities)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total, *rest = self._objective(data, training=True)
        grads = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._record(total, *rest)

    def test_step(self, data):
        return self._record(*self._objective(data, training=False))
