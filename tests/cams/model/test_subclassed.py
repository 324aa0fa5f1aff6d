"""Subclassed models (the TensorFlow tutorials' style): any layer their `call` uses is a target
in the eager and graph backends, the model is left as it was, and threads do not mix."""
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import cams

METHODS = ("gradcam", "gradcam++", "scorecam", "guided-backprop", "eigencam")


class Net(keras.Model):
    """Two convolutions, an operation that is no layer, a ReLU layer, then a softmax head."""

    def __init__(self):
        super().__init__()
        self.conv1 = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")
        self.conv2 = keras.layers.Conv2D(8, 3, name="conv2")
        self.act = keras.layers.ReLU(name="act")
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(3, activation="softmax", name="head")

    def call(self, x):
        h = self.conv2(self.conv1(x))
        return self.head(self.pool(self.act(h - 0.2 * tf.reduce_mean(h, axis=-1, keepdims=True))))

    def functional_twin(self):
        """The same computation as a Functional model sharing these layers (the oracle)."""
        inputs = keras.Input((16, 16, 3))
        h = self.conv2(self.conv1(inputs))
        h = keras.layers.Lambda(lambda t: t - 0.2 * tf.reduce_mean(t, axis=-1, keepdims=True))(h)
        return keras.Model(inputs, self.head(self.pool(self.act(h))))


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(5)  # every class's maps are non-degenerate
    model = Net()
    model(np.zeros((1, 16, 16, 3), np.float32))
    return model


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype(np.float32)


def test_its_layers_are_found_in_the_order_call_uses_them(net):
    assert [(leaf.path, leaf.shape) for leaf in cams.leaves(net)] == [
        ("conv1", (None, 14, 14, 8)), ("conv2", (None, 12, 12, 8)), ("act", (None, 12, 12, 8)),
        ("pool", (None, 8)), ("head", (None, 3))]
    assert cams.conv_layers(net) == ["conv1", "conv2", "act"]
    assert cams.describe(net).head.kind == "multiclass"


@pytest.mark.parametrize("backend", ("eager", "graph"))
@pytest.mark.parametrize("layer", ("conv1", "act"))
def test_every_method_equals_the_functional_twins(net, x, backend, layer):
    twin = net.functional_twin()
    for method in METHODS:
        res = cams.explain(net, x, layer=layer, method=method, backend=backend, class_index=1)
        expected = cams.explain(twin, x, layer=layer, method=method, class_index=1)
        assert res.layer == layer and (res.heatmaps.reshape(2, -1).std(axis=1) > 0.01).all()
        np.testing.assert_allclose(res.heatmaps, expected.heatmaps, atol=1e-5, err_msg=method)
        np.testing.assert_allclose(res.outputs, expected.outputs, rtol=1e-6)


def test_gradcam_matches_a_hand_written_tape_and_the_logit_is_read(net, x):
    # The logit of the fused softmax head is the Dense layer's pre-activation.
    with tf.GradientTape() as tape:
        a = net.conv1(x)
        tape.watch(a)
        h = net.conv2(a)
        h = net.act(h - 0.2 * tf.reduce_mean(h, axis=-1, keepdims=True))
        logits = tf.matmul(net.pool(h), net.head.kernel) + net.head.bias
        score = logits[:, 2]
    G = tape.gradient(score, a).numpy()
    cam = np.maximum((a.numpy() * G.mean(axis=(1, 2), keepdims=True)).sum(-1), 0)
    res = cams.explain(net, x, layer="conv1", class_index=2)
    np.testing.assert_allclose(res.heatmaps, cam / cam.max(axis=(1, 2), keepdims=True),
                               atol=1e-5)


def test_a_subclassed_model_around_a_keras_application_reaches_its_inner_layers(x):
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.base = keras.applications.MobileNetV2(
                input_shape=(64, 64, 3), include_top=False, weights=None, alpha=0.35)
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.out = keras.layers.Dense(2, activation="softmax")

        def call(self, images):
            return self.out(self.pool(self.base(images)))

    keras.utils.set_random_seed(6)
    model = Classifier()
    images = np.random.default_rng(3).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    model(images[:1])
    inputs = keras.Input((64, 64, 3))
    twin = keras.Model(inputs, model.out(model.pool(model.base(inputs))))
    for layer in (None, "block_5_add"):
        for backend in ("eager", "graph"):
            res = cams.explain(model, images, layer=layer, backend=backend, class_index=0)
            expected = cams.explain(twin, images, layer=layer, class_index=0)
            assert res.layer == expected.layer and res.layer.startswith(model.base.name + "/")
            assert res.heatmaps.std() > 0.01
            np.testing.assert_allclose(res.heatmaps, expected.heatmaps, atol=1e-4)


def _state(model):
    """Everything a caller could notice: weights, outputs, every layer's attributes."""
    layers = [model] + [leaf.layer for leaf in cams.leaves(model)]
    return ([w.copy() for w in model.get_weights()],
            [sorted(vars(layer)) for layer in layers],
            [type(layer).call for layer in layers])


def test_the_model_is_unchanged_and_threads_do_not_mix(net, x):
    # Two threads explain at once, each tracing its own functions (so both tap the layers at
    # the same time), while a third calls the model; the maps are the functional twin's.
    before = _state(net)
    outputs = net(x).numpy()
    twin = net.functional_twin()
    jobs = [(c, layer, backend, method) for c, layer in ((0, "conv1"), (2, "act"))
            for backend in ("eager", "graph") for method in ("gradcam", "guided-backprop")]
    expected = {job: cams.explain(twin, x, layer=job[1], class_index=job[0], method=job[3],
                                  backend=job[2]).heatmaps for job in jobs}
    cams.forget(net)
    found, errors = {}, []
    barrier = threading.Barrier(3)

    def explain(mine):
        try:
            barrier.wait()
            for _ in range(3):
                for c, layer, backend, method in mine:
                    found.setdefault((c, layer, backend, method), []).append(cams.explain(
                        net, x, layer=layer, class_index=c, method=method,
                        backend=backend).heatmaps)
        except Exception as err:  # reported below
            errors.append(err)

    def predict():
        barrier.wait()
        for _ in range(5):
            found.setdefault("outputs", []).append(net(x).numpy())

    threads = [threading.Thread(target=explain, args=(jobs[:4],)),
               threading.Thread(target=explain, args=(jobs[4:],)),
               threading.Thread(target=predict)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for job in jobs:
        assert len(found[job]) == 3 and expected[job].std() > 0.01
        for maps in found[job]:
            np.testing.assert_allclose(maps, expected[job], atol=1e-5, err_msg=str(job))
    for seen in found["outputs"]:
        np.testing.assert_array_equal(seen, outputs)
    after = _state(net)
    for w0, w1 in zip(before[0], after[0]):
        np.testing.assert_array_equal(w0, w1)
    assert before[1:] == after[1:]
    assert all("call" not in vars(leaf.layer) for leaf in cams.leaves(net))
    np.testing.assert_array_equal(net(x).numpy(), outputs)


def test_a_layer_that_cannot_be_tapped_leaves_every_layer_as_it_was(x):
    keras.utils.set_random_seed(5)
    model = Net()
    model(x[:1])
    cams.leaves(model)  # found before the user's patch below
    model.head.call = model.head.call  # a user's own instance attribute, say
    with pytest.raises(ValueError, match="'head' has its own `call`"):
        cams.explain(model, x, method="guided-backprop")  # taps conv1 and act first
    assert [leaf.layer.name for leaf in cams.leaves(model) if "call" in vars(leaf.layer)] == [
        "head"]


def test_what_cannot_be_done_is_said():
    unbuilt = Net()
    with pytest.raises(ValueError, match="has not been called.*model\\(images\\[:1\\]\\)"):
        cams.explain(unbuilt, np.zeros((1, 16, 16, 3)))
    keras.utils.set_random_seed(5)  # every class's maps are non-degenerate
    built = Net()
    built(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="subclassed model; backends eager, graph explain it"):
        cams.explain(built, np.zeros((1, 16, 16, 3)), backend="tf-keras-vis")
