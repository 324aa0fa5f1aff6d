"""Every method's math against a NumPy oracle written out loop by loop, on random arrays and
on a real model whose A and G come from an independent sub-model."""
import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams import methods
from cams.methods import (eigencam, gradcam, gradcam_plus_plus, guided_gradcam, guided_grads,
                          hirescam, layercam, scorecam, xgradcam)
from tests import models


def scaled(cam):
    cam = np.maximum(np.asarray(cam, np.float64), 0)
    return cam / cam.max() if cam.max() > 0 else cam


def channel_weighted(A, weights_of):
    """relu(sum_c w_c A_c) per image, with w_c = weights_of(A_c, G_c) computed per channel."""
    return np.stack([sum(w * a for w, a in weights_of(i)) for i in range(A.shape[0])])


def oracle(name, A, G):
    """The papers' formulas, one channel and one cell at a time."""
    n, h, w, k = A.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        for c in range(k):
            a, g = A[i, :, :, c], G[i, :, :, c]
            if name == "gradcam":
                out[i] += g.sum() / (h * w) * a
            elif name.startswith("gradcam++"):
                alphas = np.zeros((h, w))
                for y in range(h):
                    for x in range(w):
                        den = 2 * g[y, x] ** 2 + a.sum() * g[y, x] ** 3
                        alphas[y, x] = g[y, x] ** 2 / den if den != 0 else 0.0
                if name.endswith("normalized") and alphas.sum() != 0:
                    alphas = alphas / alphas.sum()
                out[i] += (alphas * np.maximum(g, 0)).sum() * a
            elif name == "xgradcam":
                out[i] += (a / a.sum() * g).sum() * a if a.sum() != 0 else 0
            elif name == "hirescam":
                out[i] += g * a
            elif name == "layercam":
                out[i] += np.maximum(g, 0) * a
            elif name == "guided-grads":
                out[i] += ((a > 0) * (g > 0) * g).sum() / (h * w) * a
    return np.stack([scaled(c) for c in out])


FORMULAS = {"gradcam": gradcam.gradcam, "gradcam++": gradcam_plus_plus.gradcam_plus_plus,
            "gradcam++normalized": lambda A, G: gradcam_plus_plus.gradcam_plus_plus(A, G, True),
            "xgradcam": xgradcam.xgradcam, "hirescam": hirescam.hirescam,
            "layercam": layercam.layercam, "guided-grads": guided_grads.guided_grads}


@pytest.mark.parametrize("name", FORMULAS)
def test_formula_on_random_arrays(name):
    rng = np.random.default_rng(0)
    A = np.maximum(rng.normal(size=(3, 5, 6, 7)), 0)    # post-ReLU activations
    G = rng.normal(size=A.shape)
    expected = oracle(name, A, G)
    assert all(e.max() == 1 and e.std() > 0.01 for e in expected)
    np.testing.assert_allclose(methods.normalize(FORMULAS[name](A, G)), expected, atol=1e-6)


def test_gradcam_hand_computed_example():
    A = np.zeros((1, 2, 2, 2))
    A[0, :, :, 0] = [[1, 2], [3, 4]]
    A[0, :, :, 1] = [[4, 0], [0, 0]]
    G = np.zeros_like(A)
    G[0, :, :, 0] = 1.0        # w_0 = 1
    G[0, :, :, 1] = -0.5       # w_1 = -0.5
    # cam = A_0 - 0.5 A_1 = [[-1, 2], [3, 4]] -> relu -> / 4
    np.testing.assert_allclose(methods.normalize(gradcam.gradcam(A, G))[0],
                               [[0, 0.5], [0.75, 1.0]])


def test_hirescam_keeps_where_the_gradient_is():
    # Grad-CAM averages the gradient away; HiResCAM keeps the cell where it is.
    A = np.ones((1, 1, 2, 1))
    G = np.array([[[[1.0], [-1.0]]]])
    assert gradcam.gradcam(A, G).max() == 0
    np.testing.assert_allclose(hirescam.hirescam(A, G)[0], [[1.0, 0.0]])


def test_all_zero_map_gives_zeros_not_nan():
    A = np.ones((2, 3, 3, 4))
    G = -np.ones_like(A)       # every weight negative: relu leaves nothing
    for formula in FORMULAS.values():
        heat = methods.normalize(formula(A, G))
        assert heat.dtype == np.float32 and np.all(heat == 0)


def test_eigencam_is_the_first_eigenvector_of_the_covariance():
    rng = np.random.default_rng(1)
    A = np.maximum(rng.normal(size=(2, 6, 5, 8)), 0)
    A[:, 1:3, 1:3, :4] += 3.0                             # a strong shared component
    for i, heat in enumerate(methods.normalize(eigencam.eigencam(A))):
        cells = A[i].reshape(30, 8)
        centred = cells - cells.mean(axis=0)
        _, vectors = np.linalg.eigh(centred.T @ centred)   # ascending eigenvalues
        projection = centred @ vectors[:, -1]
        if np.corrcoef(projection, cells.sum(axis=1))[0, 1] < 0:
            projection = -projection
        expected = scaled(projection.reshape(6, 5))
        assert expected.std() > 0.05
        np.testing.assert_allclose(heat, expected, atol=1e-6)
        inside = np.zeros((6, 5), bool)
        inside[1:3, 1:3] = True
        assert heat[inside].min() > heat[~inside].max()    # the component's cells are hottest


def linear_scores(weights):
    """A NumPy 'model': softmax over logits = (mean over pixels and channels of x) * weights."""
    def class_scores(x, classes):
        z = x.mean(axis=(1, 2, 3))[:, None] * weights[None]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return p[np.arange(len(x)), classes]
    return class_scores


@pytest.mark.parametrize("upsampling", scorecam.UPSAMPLING)
def test_scorecam_against_a_loop(upsampling):
    from scipy.ndimage import zoom
    rng = np.random.default_rng(2)
    A = np.maximum(rng.normal(size=(2, 4, 5, 6)), 0)
    A[0, :, :, 2] = 0.7                                   # a constant channel carries no weight
    x = rng.uniform(0.5, 1, size=(2, 16, 20, 3)).astype(np.float32)
    class_scores = linear_scores(np.array([1.0, -2.0, 3.0]))
    classes = np.array([2, 1])
    expected = np.zeros((2, 4, 5))
    for i in range(2):
        for c in range(6):
            a = A[i, :, :, c]
            if upsampling == "bilinear":
                up = cv2.resize(a, (20, 16), interpolation=cv2.INTER_LINEAR)
            else:
                up = zoom(a, (4, 4), order=1, mode="nearest")
            if a.max() == a.min():
                continue
            mask = (up - up.min()) / (up.max() - up.min())
            expected[i] += class_scores(x[i:i + 1] * mask[None, :, :, None], classes[i:i + 1])[0] * a
    got = scorecam.scorecam(A, x, classes, class_scores, masks_per_pass=4,
                            upsampling=upsampling)
    expected = np.stack([scaled(e) for e in expected])
    assert all(e.std() > 0.01 for e in expected)
    np.testing.assert_allclose(methods.normalize(got), expected, atol=1e-5)


def test_scorecam_top_k_keeps_the_channels_that_vary_most():
    A = np.zeros((1, 3, 3, 4))
    A[0, 0, 0, 1], A[0, :, 0, 3], A[0, 1, 1, 0] = 5.0, 1.0, 0.5
    np.testing.assert_array_equal(scorecam.top_channels(A[0], 2), [1, 3])
    calls = []

    def class_scores(x, classes):
        calls.append(len(x))
        return np.ones(len(x))
    scorecam.scorecam(A, np.ones((1, 6, 6, 1), np.float32), [0], class_scores, top_k=2)
    assert sum(calls) == 2


def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam():
    rng = np.random.default_rng(3)
    R = rng.normal(size=(2, 8, 12, 3))
    cam = np.maximum(rng.normal(size=(2, 2, 3)), 0)
    heat, attributions = guided_gradcam.guided_gradcam(R, cam)
    for i in range(2):
        up = cv2.resize(cam[i], (12, 8), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(attributions[i], R[i] * up[..., None], atol=1e-9)
        np.testing.assert_allclose(heat[i], np.abs(R[i] * up[..., None]).max(axis=-1), atol=1e-9)


# --- the same formulas reached through explain, on a real model ---------------------------

def activations_and_gradients(model, layer_name, x, classes):
    """A and dy^c/dA from an independent sub-model of a flat model (logit: softmax removed)."""
    dense = model.layers[-1]
    grad_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, dense.input])
    with tf.GradientTape() as tape:
        A, features = grad_model(x)
        logits = tf.matmul(features, dense.kernel) + dense.bias
        score = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    return A.numpy(), tape.gradient(score, A).numpy()


GRADIENT_METHODS = {"gradcam": ("gradcam", {}), "gradcam++": ("gradcam++", {}),
                    "gradcam++normalized": ("gradcam++", {"normalize_alphas": True}),
                    "xgradcam": ("xgradcam", {}), "hirescam": ("hirescam", {}),
                    "layercam": ("layercam", {}), "guided-grads": ("guided-grads", {})}


@pytest.mark.parametrize("backend", ["eager", "graph"])
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_explain_reproduces_the_oracle(fashion_cnn, backend, name):
    x = models.images((28, 28, 1), 3, seed=5, low=0)
    classes = [1, 4, 8]
    A, G = activations_and_gradients(fashion_cnn, "final", x, classes)
    method, options = GRADIENT_METHODS[name]
    res = cams.explain(fashion_cnn, x, layer="final", class_index=classes, backend=backend,
                       method=method, **options)
    expected = oracle(name, A.astype(np.float64), G.astype(np.float64))
    assert all(h.max() == 1 and h.std() > 0.01 for h in expected)
    np.testing.assert_allclose(res.heatmaps, expected, atol=1e-4)


def test_methods_that_differ_give_different_maps(fashion_cnn):
    # If a registry entry pointed at the wrong formula, two names would give one map.
    x = models.images((28, 28, 1), 2, seed=6, low=0)
    maps = {m: cams.explain(fashion_cnn, x, layer="final", class_index=[3, 5], method=m,
                            top_k=8).heatmaps if m == "scorecam" else
            cams.explain(fashion_cnn, x, layer="final", class_index=[3, 5], method=m).heatmaps
            for m in cams.METHODS}
    names = list(maps)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if {a, b} in (SAME_ON_RECTIFIED, NEARLY_LINEAR):   # equal here: see the tests below
                continue
            if maps[a].shape == maps[b].shape:
                assert np.abs(maps[a] - maps[b]).max() > 1e-3, f"{a} and {b} give the same map"


SAME_ON_RECTIFIED = {"layercam", "gradcam-elementwise"}
NEARLY_LINEAR = {"eigencam", "kpcacam"}


def test_kpca_cam_is_eigen_cam_where_its_kernel_is_nearly_linear(fashion_cnn):
    """The sigmoid kernel tanh(gamma x.y + 1) with scikit-learn's gamma = 1 / channels is nearly
    linear in x.y on small activations, and kernel PCA with a linear kernel is PCA: KPCA-CAM's
    default then draws Eigen-CAM's map (pytorch-grad-cam's default does too). The linear kernel
    is exactly Eigen-CAM; another kernel or scale gives another map."""
    x = models.images((28, 28, 1), 2, seed=6, low=0)
    eigen = cams.explain(fashion_cnn, x, layer="final", method="eigencam").heatmaps
    kpca = {(kernel, gamma): cams.explain(fashion_cnn, x, layer="final", method="kpcacam", kernel=kernel,
                                 gamma=gamma).heatmaps
            for kernel, gamma in (("sigmoid", None), ("linear", None), ("cosine", None),
                                  ("rbf", 10.0))}
    assert np.abs(kpca["sigmoid", None] - eigen).max() < 1e-3
    assert np.abs(kpca["linear", None] - eigen).max() < 1e-5
    assert np.abs(kpca["cosine", None] - eigen).max() > 0.1
    assert np.abs(kpca["rbf", 10.0] - eigen).max() > 0.1


def test_elementwise_grad_cam_is_layer_cam_where_activations_are_not_negative():
    """relu(G A) = relu(G) A when A >= 0 (or G = 0 where A < 0, as before a ReLU): after a ReLU
    the two are one map; on signed activations the head reads as they are, they differ."""
    x = models.images((16, 16, 3), 2, seed=6)

    def both(activation):
        keras.utils.set_random_seed(8)
        inputs = keras.Input((16, 16, 3))
        a = keras.layers.Conv2D(8, 3, activation=activation, name="target")(inputs)
        pooled = keras.layers.GlobalAveragePooling2D()(a)
        model = keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))
        return [cams.explain(model, x, layer="target", class_index=[0, 2], method=m).heatmaps
                for m in sorted(SAME_ON_RECTIFIED)]

    rectified = both("relu")
    assert rectified[0].std() > 0.01
    np.testing.assert_allclose(rectified[0], rectified[1], atol=1e-6)
    signed = both(None)
    assert signed[0].std() > 0.01 and signed[1].std() > 0.01
    assert np.abs(signed[0] - signed[1]).max() > 1e-2


def scorecam_oracle(model, x, A, classes, probability):
    """Score-CAM by hand: every channel's cv2-upsampled, min-max mask through model.predict."""
    out = []
    for i, c in enumerate(classes):
        cam = np.zeros(A.shape[1:3])
        for k in range(A.shape[-1]):
            a = A[i, :, :, k]
            if a.max() == a.min():
                continue
            up = cv2.resize(a, x.shape[2:0:-1], interpolation=cv2.INTER_LINEAR)
            mask = (up - up.min()) / (up.max() - up.min())
            p = model.predict(x[i:i + 1] * mask[None, :, :, None], verbose=0)[0]
            cam += probability(p, c) * a
        out.append(scaled(cam))
    return np.stack(out)


def sharp_binary(base, x):
    """`base` with its sigmoid unit's kernel scaled up and its bias centring the logits on x, so
    that masking an image moves the probability a lot (a random model barely reacts)."""
    model = keras.models.clone_model(base)
    model.set_weights(base.get_weights())
    head = model.layers[-1]
    kernel, _ = head.get_weights()
    features = keras.Model(model.inputs, head.input)(x).numpy()
    head.set_weights([kernel * 30, np.array([-(features @ kernel * 30).mean()], np.float32)])
    return model


def test_scorecam_on_a_single_sigmoid_unit(small_binary):
    """Score-CAM weighs channels by p for class 1 and 1 - p for class 0. tf-keras-vis applies
    softmax to the one-unit output instead, so every weight is 1: its map is relu(sum_k A_k)."""
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import BinaryScore

    x = models.images((32, 32, 3), 2, seed=31)
    model = sharp_binary(small_binary, x)
    A = keras.Model(model.inputs, model.get_layer("conv2").output)(x).numpy()
    uniform = np.stack([scaled(np.maximum(a.sum(axis=-1), 0)) for a in A])
    maps = {}
    for c in (0, 1):
        res = cams.explain(model, x, layer="conv2", class_index=c, method="scorecam")
        expected = scorecam_oracle(model, x, A.astype(np.float64), [c, c],
                                   lambda p, c: p[0] if c == 1 else 1 - p[0])
        assert all(e.std() > 0.01 for e in expected)
        np.testing.assert_allclose(res.heatmaps, expected, atol=1e-4)
        maps[c] = res.heatmaps
    assert np.abs(maps[0] - maps[1]).max() > 0.05          # the two classes look at different cells
    assert max(np.abs(m - uniform).max() for m in maps.values()) > 0.05
    theirs = Scorecam(model, model_modifier=ReplaceToLinear())(
        BinaryScore([True, True]), x, penultimate_layer="conv2", seek_penultimate_conv_layer=False,
        expand_cam=False, normalize_cam=False)
    np.testing.assert_allclose(np.stack([scaled(t) for t in theirs]), uniform, atol=1e-4)


def test_scorecam_on_softmax_follows_the_oracle(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=32, low=0)
    inner = keras.Model(fashion_cnn.inputs, fashion_cnn.get_layer("final").output)
    A = inner(x).numpy().astype(np.float64)
    res = cams.explain(fashion_cnn, x, layer="final", class_index=[2, 7], method="scorecam")
    assert res.score == "probability"
    expected = scorecam_oracle(fashion_cnn, x, A, [2, 7], lambda p, c: p[c])
    assert all(e.std() > 0.01 for e in expected)
    np.testing.assert_allclose(res.heatmaps, expected, atol=1e-4)


def tiny_relu_model(fused):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((5, 6, 2))
    if fused:
        x = keras.layers.Conv2D(4, 1, activation="relu", name="conv")(inputs)
    else:
        x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
        x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("backend", ["eager", "graph"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused-relu", "relu-layer"])
def test_guided_backprop_against_a_hand_derivation(backend, fused):
    """x -> 1x1 conv (W, b) -> relu -> mean over cells -> logits (V, d). For class c the gradient
    reaching cell (i, j) of the ReLU output is V[:, c] / (h w); guided backprop keeps it only
    where it is positive and the ReLU input z is positive, then maps it back through W."""
    model = tiny_relu_model(fused)
    W, b = model.get_layer("conv").get_weights()
    V, _ = model.get_layer("logits").get_weights()
    x = models.images((5, 6, 2), 2, seed=33)
    c = 1
    z = np.einsum("nhwc,ck->nhwk", x, W[0, 0]) + b
    dy = np.broadcast_to(V[:, c] / 30.0, z.shape)
    R = np.einsum("nhwk,ck->nhwc", dy * (dy > 0) * (z > 0), W[0, 0])
    plain = np.einsum("nhwk,ck->nhwc", dy * (z > 0), W[0, 0])
    assert np.abs(R - plain).max() > 1e-3                  # the gate changes something
    layer = "conv" if fused else "relu"
    res = cams.explain(model, x, layer=layer, class_index=c, method="guided-backprop",
                       backend=backend)
    np.testing.assert_allclose(res.attributions, R, atol=1e-6)
    np.testing.assert_allclose(res.heatmaps, np.stack([scaled(np.abs(r).max(-1)) for r in R]),
                               atol=1e-5)


@pytest.mark.parametrize("options, message", [
    ({"top_k": 0}, "top_k must be a positive int or None; got 0"),
    ({"top_k": True}, "top_k must be a positive int or None; got True"),
    ({"top_k": 2.0}, "top_k must be a positive int or None; got 2.0"),
    ({"masks_per_pass": None}, "masks_per_pass must be a positive int; got None"),
    ({"masks_per_pass": -3}, "masks_per_pass must be a positive int; got -3"),
    ({"upsampling": "nearest"}, "upsampling must be one of bilinear, align-corners"),
])
def test_option_values_are_checked_with_what_is_accepted(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        methods.METHODS["scorecam"].check_options(options)


def test_the_smallest_option_values_are_accepted():
    checked = methods.METHODS["scorecam"].check_options({"top_k": 1, "masks_per_pass": 1})
    assert checked["top_k"] == 1 and checked["masks_per_pass"] == 1
    assert methods.METHODS["scorecam"].check_options({"top_k": None})["top_k"] is None
    with pytest.raises(TypeError, match="normalize_alphas must be True or False; got 1"):
        methods.METHODS["gradcam++"].check_options({"normalize_alphas": 1})


@pytest.mark.parametrize("method", ["guided-gradcam", "guided-backprop"])
def test_the_guided_methods_report_the_class_and_outputs_they_explained(fashion_cnn, method):
    x = np.random.default_rng(9).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    guided = cams.explain(fashion_cnn, x, method=method)
    plain = cams.explain(fashion_cnn, x, method="gradcam")
    np.testing.assert_array_equal(guided.class_index, plain.class_index)
    np.testing.assert_allclose(guided.outputs, fashion_cnn.predict(x, verbose=0), rtol=1e-5)
    assert guided.attributions.shape == (2, 28, 28, 1) and guided.heatmaps.shape == (2, 28, 28)
    saliency = np.abs(guided.attributions[0]).max(axis=-1)
    np.testing.assert_allclose(guided.heatmaps[0], saliency / saliency.max(), atol=1e-6)


def test_a_component_rises_with_the_activation_or_else_points_its_largest_entry_up():
    """The eigen methods' sign rule. On post-ReLU cells the projection rises with each cell's
    total activation; after a layer norm the totals are about 0 and carry no sign, so the
    projection's largest entry is made positive instead (else rounding chose it: the maps of
    the same model flipped between TensorFlow and JAX)."""
    from cams.methods.eigencam import oriented

    rng = np.random.default_rng(3)
    cells = np.maximum(rng.normal(size=(16, 8)), 0)
    projection = cells.sum(axis=1) - cells.sum(axis=1).mean()
    assert (oriented(-projection, cells) == projection).all()
    tokens = rng.normal(size=(16, 8))
    tokens -= tokens.mean(axis=1, keepdims=True)          # each token sums to 0, as after a norm
    p = rng.normal(size=16)
    for noise in (1e-9, -1e-9):                           # rounding's sign does not decide
        chosen = oriented(p, tokens + noise)
        assert chosen[np.argmax(np.abs(chosen))] > 0
        np.testing.assert_array_equal(np.abs(chosen), np.abs(p))


def test_ablation_cam_runs_one_copy_per_live_channel():
    """Zeroing a channel that is zero everywhere changes nothing: such channels are not run
    (their weight would multiply zeros). A copy per live channel, masks_per_pass at a time."""
    from cams import forward

    keras.utils.set_random_seed(8)
    inputs = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(a)))
    kernel, bias = model.get_layer("conv").get_weights()
    kernel[..., [1, 4]], bias[[1, 4]] = 0.0, -1.0            # channels 1 and 4 are dead
    model.get_layer("conv").set_weights([kernel, bias])
    x = models.images((12, 12, 3), 2, seed=2)
    before = forward.passes()["forward"]
    res = cams.explain(model, x, layer="conv", class_index=[0, 2], method="ablationcam",
                       masks_per_pass=3)
    ran = forward.passes()["forward"] - before
    assert ran == 2 + 2 + 2 * 4     # A, the scores, then 4 live channels of each image
    assert (res.heatmaps.max(axis=(1, 2)) == 1).all()


def test_finer_cam_takes_a_binary_head_and_refuses_what_has_no_classes(
        small_binary):
    """A binary head's two classes have logits -z and z: Finer-CAM of class 1 against class 0
    is the gradient of (1 + alpha) z, Grad-CAM's map. A regression head and a probability
    score are refused with what to do instead."""
    x = models.images((32, 32, 3), 2, seed=4)
    finer = cams.explain(small_binary, x, class_index=1, method="finercam", layer="conv2")
    grad = cams.explain(small_binary, x, class_index=1, layer="conv2")
    assert (grad.heatmaps.max(axis=(1, 2)) == 1).all()
    np.testing.assert_allclose(finer.heatmaps, grad.heatmaps, atol=1e-5)
    with pytest.raises(ValueError, match="score='logit'"):
        cams.explain(small_binary, x, method="finercam", layer="conv2", score="probability")
    keras.utils.set_random_seed(9)
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    regressor = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(a)))
    with pytest.raises(ValueError, match="regression head"):
        cams.explain(regressor, np.ones((1, 8, 8, 1), np.float32), method="finercam")


def test_finer_cam_compares_with_the_nearest_logits():
    from cams.methods import finercam

    logits = np.array([[0.0, 1.0, 5.0, 1.2, -3.0]])
    np.testing.assert_array_equal(finercam.look_alikes(logits, np.array([1]), 3), [[3, 0, 2]])
    np.testing.assert_array_equal(finercam.look_alikes(logits, np.array([1]), 9), [[3, 0, 2, 4]])
    # dF/ds by central differences of F = s_c - alpha sum_j softmax(s_S)_j s_j
    others = np.array([[3, 0, 2]])

    def F(s):
        w = np.exp(s[others[0]]) / np.exp(s[others[0]]).sum()
        return s[1] - 0.7 * (w * s[others[0]]).sum()

    h, numeric = 1e-6, []
    for j in (1, 3, 0, 2):
        step = np.zeros(5)
        step[j] = h
        numeric.append((F(logits[0] + step) - F(logits[0] - step)) / (2 * h))
    np.testing.assert_allclose(finercam.score_weights(logits, np.array([1]), others, 0.7)[0],
                               numeric, atol=1e-8)


def test_kpca_cam_takes_the_same_component_from_lanczos_as_from_a_full_eigh():
    from cams.methods import kpcacam

    rng = np.random.default_rng(1)
    cells = rng.normal(size=(1100, 6))             # more cells than the dense solver takes
    K = kpcacam.kernel_matrix(cells - cells.mean(axis=0), "rbf")
    lanczos = kpcacam.leading_component(K)
    values, vectors = np.linalg.eigh(K - K.mean(0)[None] - K.mean(0)[:, None] + K.mean())
    dense = vectors[:, -1] * np.sqrt(values[-1])
    assert min(np.abs(lanczos - dense).max(), np.abs(lanczos + dense).max()) < 1e-8


def test_ablation_cam_top_k_ablates_the_channels_that_vary_most():
    """top_k ablates the k channels of largest spread (Score-CAM's choice); the rest weigh 0."""
    from cams.methods import ablationcam, scorecam

    rng = np.random.default_rng(2)
    A_i = np.abs(rng.normal(size=(5, 5, 6))) * np.array([1, 5, 2, 8, 3, 0.5])
    asked = []

    def ablated(keep):
        asked.append(np.flatnonzero(keep[0] == 0)[0])
        return np.full(len(keep), 1.0) - 0.1 * (1 - keep).argmax(axis=1)

    w = ablationcam.ablation_weights(A_i, 2.0, ablated, masks_per_pass=1, top_k=2)
    top = scorecam.top_channels(A_i, 2)
    assert sorted(asked) == sorted(top) == [1, 3]
    np.testing.assert_allclose(w[top], (2.0 - (1.0 - 0.1 * top)) / 2.0)
    assert (np.delete(w, top) == 0).all()


def test_finer_cam_of_two_classes_is_grad_cam_of_the_probability():
    """Two softmax classes: F = s_c - s_o, whose gradient is dp_c/dA / (p_c (1 - p_c)), a
    positive factor per image that the scaling removes."""
    keras.utils.set_random_seed(12)
    inputs = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    a = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(a)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(a)))
    x = models.images((16, 16, 3), 3, seed=5)
    finer = cams.explain(model, x, layer="conv", class_index=[0, 1, 1], method="finercam")
    grad = cams.explain(model, x, layer="conv", class_index=[0, 1, 1], score="probability")
    logit = cams.explain(model, x, layer="conv", class_index=[0, 1, 1])
    assert (grad.heatmaps.max(axis=(1, 2)) == 1).all() and grad.heatmaps.std() > 0.05
    np.testing.assert_allclose(finer.heatmaps, grad.heatmaps, atol=1e-5)
    assert np.abs(logit.heatmaps - grad.heatmaps).max() > 1e-3   # the logit's map is another


def test_full_grad_scales_each_channel_before_resizing_it():
    """pytorch-grad-cam scales every (image, channel) map, resizes each, then sums; cams sums the
    scaled maps first and resizes once, which is the same map since resizing is linear."""
    from cams.methods import fullgrad, resize

    parts = np.random.default_rng(0).normal(size=(2, 7, 7, 5))
    each = np.zeros((2, 32, 32))
    for n in range(2):
        for k in range(5):
            m = parts[n, :, :, k] - parts[n, :, :, k].min()
            each[n] += cv2.resize(m / (1e-7 + m.max()), (32, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(fullgrad.scaled_channels(parts, (32, 32)), each, atol=1e-5)
    assert np.abs(resize.upsample(parts[..., 0], (32, 32))).max() > 0    # not degenerate


def test_full_grad_reads_the_biases_of_feature_maps_only():
    """A transfer head's batch norm on the pooled vector and its dense layer are not FullGrad's
    layers; the convolution and the batch norm over its channels are, the norm's bias folded."""
    from cams.backends.tapped import bias_of, biased_leaves

    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    a = keras.layers.BatchNormalization(name="bn2d")(a)
    v = keras.layers.BatchNormalization(name="bn1d")(keras.layers.GlobalAveragePooling2D()(a))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(v))
    bn = model.get_layer("bn2d")
    gamma, beta, mean, variance = (np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.1, 0.0, -0.2, 0.3]),
                                   np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.0, 4.0, 0.25, 9.0]))
    bn.set_weights([gamma, beta, mean, variance])
    assert [leaf.path for leaf in biased_leaves(model)] == ["conv", "bn2d"]
    np.testing.assert_allclose(bias_of(bn), beta - gamma * mean / np.sqrt(variance + bn.epsilon))
    res = cams.explain(model, models.images((12, 12, 3), 2, seed=1), method="fullgrad")
    assert res.heatmaps.shape == (2, 12, 12) and (res.heatmaps.max(axis=(1, 2)) == 1).all()


def _min_max(cam):
    cam = cam - cam.min(axis=(1, 2), keepdims=True)
    return cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))


def test_refine_cam_multiplies_grad_cam_plus_plus_at_the_last_layer_of_each_finer_stage(
        fashion_cnn):
    """By default RefineCAM adds, below the explained 14 x 14 layer, the last 28 x 28 one
    (batch_normalization_1, before the pooling); each Grad-CAM++ map (the loop oracle) is
    min-max scaled, resized by OpenCV to the input and scaled again (pytorch-grad-cam's
    steps), and their product scaled again."""
    x = models.images((28, 28, 1), 3, seed=5, low=0)
    classes = [1, 4, 8]
    res = cams.explain(fashion_cnn, x, layer="final", class_index=classes, method="refinecam")
    product = np.ones((3, 28, 28))
    for layer in ("batch_normalization_1", "final"):
        A, G = activations_and_gradients(fashion_cnn, layer, x, classes)
        cam = _min_max(oracle("gradcam++", A.astype(np.float64), G.astype(np.float64)))
        product *= _min_max(np.stack([cv2.resize(c, (28, 28), interpolation=cv2.INTER_LINEAR)
                                      for c in cam]))
    expected = _min_max(product)
    assert all(e.max() > 0.99 and e.std() > 0.05 for e in expected)
    assert res.heatmaps.shape == (3, 28, 28) and res.layer == "final"
    np.testing.assert_allclose(_min_max(res.heatmaps), expected, atol=1e-4)
    np.testing.assert_array_equal(res.class_index, classes)


@pytest.mark.parametrize("options, message", [
    ({"layers": "conv1"}, "layers must be None or a list of layer names; got 'conv1'"),
    ({"layers": []}, "layers must be None or a list of layer names"),
    ({"base": "fullgrad"}, "base must be a method whose map is at a layer, one of gradcam, "),
    ({"base": "refinecam"}, "base must be a method whose map is at a layer"),
])
def test_refine_cam_options_say_what_they_accept(options, message):
    with pytest.raises(ValueError, match=message):
        methods.METHODS["refinecam"].check_options(options)


def test_random_cam_is_a_fixed_random_weighting_of_the_channels():
    from cams.methods import randomcam

    A = np.maximum(np.random.default_rng(1).normal(size=(2, 4, 5, 6)), 0)
    w = np.random.RandomState(3).uniform(-1, 1, 6)
    expected = np.maximum(np.einsum("nhwk,k->nhw", A, w), 0)
    np.testing.assert_allclose(randomcam.randomcam(A, seed=3), expected, atol=1e-12)
    np.testing.assert_allclose(randomcam.randomcam(A[1:], seed=3), expected[1:], atol=1e-12)
    with pytest.raises(ValueError, match="seed must be an int from 0 to 2\\*\\*32 - 1; got -1"):
        methods.METHODS["randomcam"].check_options({"seed": -1})


def test_refine_cam_on_a_model_of_unknown_input_size_is_its_base_method_resized():
    """Layer sizes are None until the model runs, so no finer stage can be chosen by shape:
    the map is Grad-CAM++'s at the explained layer, scaled to the input."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    images = models.images((16, 16, 3), 2, seed=1)
    refined = cams.explain(model, images, layer="c2", method="refinecam").heatmaps
    base = cams.explain(model, images, layer="c2", method="gradcam++").heatmaps
    expected = _min_max(np.stack([cv2.resize(b.astype(np.float64), (16, 16),
                                             interpolation=cv2.INTER_LINEAR) for b in base]))
    assert refined.shape == (2, 16, 16) and all(e.std() > 0.05 for e in expected)
    np.testing.assert_allclose(_min_max(refined.astype(np.float64)), expected, atol=1e-4)
