"""Models with several inputs: an image with clinical data, a frontal and a lateral view. The
maps are drawn on the image input; the other inputs go through as given, and change the map."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams

BACKENDS = ("eager", "graph", "tf-keras-vis")


@pytest.fixture(scope="module")
def clinical_model():
    """Image (32, 32, 3) + clinical (4,): the clinical values gate the image features in a
    hidden ReLU layer, so the gradient at the image's conv layer depends on them."""
    keras.utils.set_random_seed(3)
    image, clinical = keras.Input((32, 32, 3), name="image"), keras.Input((4,), name="clinical")
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(image)
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(a)
    pooled = keras.layers.GlobalAveragePooling2D()(a)
    both = keras.layers.Concatenate()([pooled, keras.layers.Dense(8, name="clin")(clinical)])
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(both)
    return keras.Model([image, clinical], keras.layers.Dense(3, name="logits")(hidden))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(3, 32, 32, 3)).astype(np.float32),
            rng.normal(0, 3, size=(3, 4)).astype(np.float32))


def tape_gradcam(model, x, clinical, cls, layer="conv2"):
    """Grad-CAM written out with a tape on a two-output twin of the model (the oracle)."""
    twin = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        A, y = twin([tf.constant(x), tf.constant(clinical)])
        score = y[:, cls]
    G = tape.gradient(score, A).numpy()
    cam = np.maximum((A.numpy() * G.mean(axis=(1, 2), keepdims=True)).sum(-1), 0)
    return cam / cam.max(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcam_of_an_image_with_clinical_data_matches_a_hand_written_tape(
        clinical_model, data, backend):
    x, clinical = data
    expected = tape_gradcam(clinical_model, x, clinical, 1)
    assert (expected.reshape(3, -1).std(axis=1) > 0.02).all()  # not degenerate
    res = cams.explain(clinical_model, {"image": x, "clinical": clinical}, class_index=1,
                       backend=backend)
    assert res.layer == "conv2"  # the image's last conv layer
    np.testing.assert_allclose(res.heatmaps, expected, atol=1e-4)
    listed = cams.explain(clinical_model, [x, clinical], class_index=1, backend=backend)
    np.testing.assert_array_equal(listed.heatmaps, res.heatmaps)


def test_the_clinical_values_reach_the_map(clinical_model, data):
    x, clinical = data
    other = -clinical
    res = cams.explain(clinical_model, {"image": x, "clinical": other}, class_index=1)
    np.testing.assert_allclose(res.heatmaps, tape_gradcam(clinical_model, x, other, 1),
                               atol=1e-4)
    first = cams.explain(clinical_model, {"image": x, "clinical": clinical}, class_index=1)
    assert np.abs(res.heatmaps - first.heatmaps).max() > 0.05


@pytest.mark.parametrize("method", ("scorecam", "ablationcam"))
@pytest.mark.parametrize("backend", ("eager", "graph"))
def test_altered_copies_keep_each_images_clinical_values(clinical_model, data, backend, method):
    """Score-CAM's masked images and Ablation-CAM's ablated copies of one image each carry
    that image's clinical row."""
    # The oracle: one single-input model per image, its clinical row built in as a constant,
    # explained the single-input way.
    x, clinical = data
    res = cams.explain(clinical_model, {"image": x, "clinical": clinical}, class_index=2,
                       method=method, backend=backend)
    for i in range(len(x)):
        image = keras.Input((32, 32, 3))
        row = keras.layers.Lambda(
            lambda t, c=clinical[i]: tf.tile(tf.constant(c[None]), [tf.shape(t)[0], 1]))(image)
        twin = keras.Model(image, clinical_model([image, row]))
        alone = cams.explain(twin, x[i:i + 1], layer="conv2", class_index=2, method=method)
        assert alone.heatmaps.std() > 0.02
        np.testing.assert_allclose(res.heatmaps[i], alone.heatmaps[0], atol=1e-4)
        np.testing.assert_allclose(res.outputs[i], alone.outputs[0], rtol=1e-5, atol=1e-6)


def test_every_label_and_the_guided_methods_take_the_other_inputs(clinical_model, data):
    x, clinical = data
    inputs = {"image": x, "clinical": clinical}
    every = cams.explain(clinical_model, inputs, class_index="all")
    assert every.heatmaps.shape == (3, 3, 28, 28)
    np.testing.assert_allclose(every.heatmaps[:, 1], tape_gradcam(clinical_model, x, clinical, 1),
                               atol=1e-4)
    for method in ("guided-backprop", "guided-gradcam"):
        maps = {b: cams.explain(clinical_model, inputs, method=method, backend=b,
                                class_index=1).heatmaps for b in ("eager", "graph")}
        assert maps["eager"].shape == (3, 32, 32) and maps["eager"].std() > 0.01
        np.testing.assert_allclose(maps["eager"], maps["graph"], atol=1e-4)


@pytest.fixture(scope="module")
def two_views():
    keras.utils.set_random_seed(5)
    views = [keras.Input((24, 24, 1), name=name) for name in ("frontal", "lateral")]
    features = [keras.layers.Conv2D(8, 3, activation="relu", name=f"{v.name}_conv")(v)
                for v in views]
    pooled = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(f) for f in features])
    return keras.Model(views, keras.layers.Dense(2)(pooled))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_of_two_views_explains_the_one_named(two_views, backend):
    x = np.random.default_rng(1).uniform(size=(2, 24, 24, 1)).astype(np.float32)
    views = {"frontal": x, "lateral": x[:, ::-1]}
    with pytest.raises(ValueError, match="several image inputs.*frontal.*lateral.*image_input="):
        cams.explain(two_views, views, backend=backend)
    for name in ("frontal", "lateral"):
        res = cams.explain(two_views, views, image_input=name, class_index=1, backend=backend)
        assert res.layer == f"{name}_conv" and res.heatmaps.std() > 0.01
        with tf.GradientTape() as tape:
            twin = keras.Model(two_views.inputs,
                               [two_views.get_layer(f"{name}_conv").output, two_views.output])
            A, y = twin([tf.constant(views["frontal"]), tf.constant(views["lateral"])])
            score = y[:, 1]
        G = tape.gradient(score, A).numpy()
        cam = np.maximum((A.numpy() * G.mean(axis=(1, 2), keepdims=True)).sum(-1), 0)
        np.testing.assert_allclose(res.heatmaps, cam / cam.max(axis=(1, 2), keepdims=True),
                                   atol=1e-4)
    with pytest.raises(ValueError, match="'lateral_conv' is not computed from the image input"):
        cams.explain(two_views, views, image_input="frontal", layer="lateral_conv")
    with pytest.raises(ValueError, match="unknown image_input 'side'"):
        cams.explain(two_views, views, image_input="side")


@pytest.mark.parametrize("given, message", [
    (lambda x, c: x, r"takes 2 inputs, image \(N, 32, 32, 3\), clinical \(N, 4\): pass a dict"),
    (lambda x, c: {"image": x}, "missing clinical"),
    (lambda x, c: {"image": x, "clinical": c, "age": c}, "unknown age"),
    (lambda x, c: {"image": x, "clinical": c[:2]}, "'clinical' has 2 rows for 3 images"),
    (lambda x, c: {"image": x, "clinical": c[:, :3]}, r"'clinical' must have shape \(N, 4\)"),
    (lambda x, c: [c, x], r"images must be a batch of shape \(N, 32, 32, 3\)"),
])
def test_other_inputs_given_wrongly_are_refused_saying_what_the_model_takes(
        clinical_model, data, given, message):
    with pytest.raises(ValueError, match=message):
        cams.explain(clinical_model, given(*data))


@pytest.fixture(scope="module")
def coded_model():
    """Image + a category code (int32, through an Embedding) + a vector through a layer with
    two outputs (attention with its scores)."""
    keras.utils.set_random_seed(8)
    image = keras.Input((20, 20, 3), name="image")
    code = keras.Input((1,), dtype="int32", name="site")
    vector = keras.Input((4, 2), name="vitals")
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(image)
    attended, weights = keras.layers.MultiHeadAttention(2, 4, name="mha")(
        vector, vector, return_attention_scores=True)
    parts = [keras.layers.GlobalAveragePooling2D()(a),
             keras.layers.Flatten()(keras.layers.Embedding(
                 5, 3, embeddings_initializer=keras.initializers.RandomNormal(stddev=3.0),
                 name="embed")(code)),
             keras.layers.Flatten()(attended), keras.layers.Flatten()(weights)]
    hidden = keras.layers.Dense(12, activation="relu")(keras.layers.Concatenate()(parts))
    return keras.Model([image, code, vector], keras.layers.Dense(2)(hidden))


def test_an_integer_input_and_a_layer_with_two_outputs_go_through_every_backend(coded_model):
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(3, 20, 20, 3)).astype(np.float32)
    inputs = {"image": x, "site": np.array([[0], [3], [4]]),
              "vitals": rng.normal(size=(3, 4, 2)).astype(np.float32)}
    maps = {b: cams.explain(coded_model, inputs, class_index=0, backend=b).heatmaps
            for b in BACKENDS}
    assert (maps["eager"].reshape(3, -1).std(axis=1) > 0.01).all()
    for b in ("graph", "tf-keras-vis"):
        np.testing.assert_allclose(maps[b], maps["eager"], atol=1e-4)
    other = cams.explain(coded_model, {**inputs, "site": np.array([[1], [1], [1]])},
                         class_index=0).heatmaps
    assert np.abs(other - maps["eager"]).max() > 0.01  # the code reaches the map
    with pytest.raises(ValueError, match="'site' takes int32 values; got float64"):
        cams.explain(coded_model, {**inputs, "site": np.array([[0.7], [3], [4]])})


def test_the_tools_that_read_one_image_refuse_such_a_model_clearly(clinical_model, data,
                                                                   tmp_path):
    from cams import metrics
    from cams.io import modelcard

    path = tmp_path / "clinical.keras"
    clinical_model.save(path)
    with pytest.raises(ValueError, match=r"takes 2 inputs \(image, clinical\).*cams.explain"):
        modelcard.load(str(path))
    with pytest.raises(ValueError, match="perturb a model's only input"):
        metrics.class_probability(clinical_model, data[0], 0)
    with pytest.raises(ValueError, match="masks every input"):
        cams.explain(clinical_model, list(data), method="scorecam", backend="tf-keras-vis",
                     upsampling="align-corners")
