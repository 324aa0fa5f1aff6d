"""Vision transformers: every KerasHub family, tiny and with random weights, against a
hand-written tf.GradientTape oracle that runs the family's own sublayers, drops the leading
tokens and lays the patches on the grid by hand.

The oracle targets the first block's output (computed inside the encoder for ViT, DeiT, DINOv2,
DINOv3 and Swin; a layer of the graph for CLIP and SigLIP). CAMS_ALL_TRANSFORMERS=1 also runs
every method on every family.
"""
import os
import warnings

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import cams

M = keras_hub.models
ALL = os.environ.get("CAMS_ALL_TRANSFORMERS") == "1"
SIZE, PATCH, N_CLASSES = 32, 8, 3


def _images(n=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, SIZE, SIZE, 3)).astype("float32")


def _classifier(backbone, pooling, activation="softmax", n=N_CLASSES):
    """backbone nested as a layer, a pooling of its tokens and a Dense head."""
    x = keras.Input((SIZE, SIZE, 3))
    y = backbone(x)
    if pooling == "class":
        y = keras.layers.Lambda(lambda t: t[:, 0], name="class_token")(y)
    elif pooling == "mean":
        y = keras.layers.GlobalAveragePooling1D(name="mean_of_tokens")(y)
    return keras.Model(x, keras.layers.Dense(n, activation=activation, name="head")(y))


def _vit():
    return M.ViTBackbone(image_shape=(SIZE, SIZE, 3), patch_size=PATCH, num_layers=2,
                         num_heads=2, hidden_dim=32, mlp_dim=64, name="vit")


def _build(family):
    keras.utils.set_random_seed(0)
    small = dict(patch_size=PATCH, num_layers=2, hidden_dim=32, num_heads=2,
                 intermediate_dim=64, image_shape=(SIZE, SIZE, 3))
    if family == "vit":
        return _classifier(_vit(), "class")
    if family == "deit":
        return _classifier(M.DeiTBackbone(
            image_shape=(SIZE, SIZE, 3), patch_size=PATCH, num_layers=2, num_heads=2,
            hidden_dim=32, intermediate_dim=64, name="deit"), "class")
    if family in ("dinov2", "dinov2_registers"):
        registers = 4 if family == "dinov2_registers" else 0
        return _classifier(M.DINOV2Backbone(**small, num_register_tokens=registers,
                                            position_embedding_shape=(SIZE, SIZE, 3),
                                            name=family), "class")
    if family == "dinov3":
        return _classifier(M.DINOV3Backbone(**small, name="dinov3"), "class")
    if family == "swin":
        return _classifier(M.SwinTransformerBackbone(
            image_shape=(SIZE, SIZE, 3), embed_dim=16, depths=(2, 2), num_heads=(2, 2),
            window_size=4, patch_size=4, name="swin"), "mean")
    if family == "clip":
        return _classifier(M.CLIPVisionEncoder(**small, name="clip"), "class")
    if family == "siglip":  # pools by attention itself: (N, D)
        return _classifier(M.SigLIPVisionEncoder(**small, name="siglip"), None)
    raise ValueError(family)


# family -> (the oracle's layer: the first block's output, leading tokens, grid)
LAYOUT = {
    "vit": ("vit/vit_encoder/transformer_block_1", 1, (4, 4)),
    "deit": ("deit/deit_encoder/transformer_block_1", 2, (4, 4)),
    "dinov2": ("dinov2/dinov2_encoder/layers_0", 1, (4, 4)),
    "dinov2_registers": ("dinov2_registers/dinov2_registers_encoder/layers_0", 5, (4, 4)),
    "dinov3": ("dinov3/dinov3_encoder/layers_0", 5, (4, 4)),
    "swin": ("swin/stage_0/blocks_0", 0, (8, 8)),
    "clip": ("clip/clip_encoder_block_0", 1, (4, 4)),
    "siglip": ("siglip/siglip_encoder_block_0", 0, (4, 4)),
}
FAMILIES = tuple(LAYOUT)


def _halves(family, model):
    """(front(x) -> the first block's output A, back(A) -> the head's logits), written out with
    the family's own sublayers."""
    bb = model.layers[1]
    head = model.get_layer("head")

    def logits(pooled):
        return tf.matmul(pooled, head.kernel) + head.bias

    if family in ("vit", "deit"):
        emb = bb.layers[1]
        enc = bb.layers[2]
        first = lambda h: enc.encoder_layers[0](h)  # noqa: E731
        rest = lambda h: enc.encoder_layers[1](h)  # noqa: E731
        if family == "deit":
            first = lambda h: enc.encoder_layers[0](h)[0]  # noqa: E731
            rest = lambda h: enc.encoder_layers[1](h)[0]  # noqa: E731
        return (lambda x: first(emb(x)),
                lambda a: logits(enc.layer_norm(rest(a))[:, 0]))
    if family in ("dinov2", "dinov2_registers"):
        return (lambda x: bb.encoder.layers[0](bb.embeddings(x)),
                lambda a: logits(bb.layernorm(bb.encoder.layers[1](a))[:, 0]))
    if family == "dinov3":
        kw = {}

        def front(x):
            kw.update(position_embeddings=bb.rope_embedding(x), num_prefix_tokens=5)
            return bb.encoder.layers[0](bb.embeddings(x), **kw)
        return front, lambda a: logits(bb.layernorm(bb.encoder.layers[1](a, **kw))[:, 0])
    if family == "swin":
        s0, s1 = bb.get_layer("stage_0"), bb.get_layer("stage_1")

        def back(a):
            h = s0.downsample(s0.blocks[1](a), H=8, W=8)
            h = s1.blocks[1](s1.blocks[0](h))
            return logits(tf.reduce_mean(bb.get_layer("norm")(h), axis=1))
        return (lambda x: s0.blocks[0](bb.get_layer("pos_drop")(bb.get_layer("patch_embedding")(x))),
                back)
    if family in ("clip", "siglip"):  # KerasHub prefixes their layers' names with the model's
        layer = lambda name: bb.get_layer(f"{family}_{name}")  # noqa: E731
    if family == "clip":
        return (lambda x: layer("encoder_block_0")(layer("pre_layer_norm")(layer("embedding")(x))),
                lambda a: logits(layer("layer_norm")(layer("encoder_block_1")(a))[:, 0]))
    if family == "siglip":
        return (lambda x: layer("encoder_block_0")(layer("embedding")(x)),
                lambda a: logits(layer("head")(layer("post_layer_norm")(
                    layer("encoder_block_1")(a)))))
    raise ValueError(family)


def oracle_gradcam(family, model, x, classes):
    """Grad-CAM of the class logits at the first block's output, by hand: (N, gh, gw)."""
    front, back = _halves(family, model)
    _, prefix, (gh, gw) = LAYOUT[family]
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        A = front(x)
        tape.watch(A)
        z = back(A)
        S = tf.reduce_sum(tf.gather(z, classes, axis=1, batch_dims=1))
    G = tape.gradient(S, A).numpy().astype(np.float64)
    A = A.numpy().astype(np.float64)
    n, _, d = A.shape
    A = A[:, prefix:, :].reshape(n, gh, gw, d)   # drop the leading tokens, rows of patches
    G = G[:, prefix:, :].reshape(n, gh, gw, d)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", A, G.mean(axis=(1, 2))), 0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0)


def assert_live(maps):
    """Non-degenerate: every map peaks at 1 and is not constant."""
    maps = np.asarray(maps).reshape(-1, *maps.shape[-2:])
    assert np.allclose(maps.max(axis=(-2, -1)), 1.0)
    assert (maps.std(axis=(-2, -1)) > 1e-3).all()


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = _build(family)
        return cache[family]
    return get


def backends_for(family):
    return ("eager",) if family == "swin" else ("eager", "graph")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_equals_the_hand_written_oracle(family, built):
    model = built(family)
    layer, prefix, grid = LAYOUT[family]
    x = _images()
    assert layer in cams.conv_layers(model)
    classes = np.array([0, 2])
    want = oracle_gradcam(family, model, x, classes)
    assert_live(want)
    for backend in backends_for(family):
        res = cams.explain(model, x, layer=layer, class_index=classes, backend=backend)
        assert res.heatmaps.shape == (2,) + grid
        np.testing.assert_allclose(res.heatmaps, want, atol=1e-4, err_msg=backend)


@pytest.mark.parametrize("family", FAMILIES)
def test_default_layer_is_live_in_every_family(family, built):
    model = built(family)
    x = _images()
    maps = {b: cams.explain(model, x, backend=b)
            for b in (backends_for(family) if ALL else ("eager",))}
    eager = maps["eager"]
    assert eager.layer == cams.conv_layers(model)[-1]
    assert_live(eager.heatmaps)
    for res in maps.values():
        np.testing.assert_allclose(res.heatmaps, eager.heatmaps, atol=1e-4)


def test_class_token_head_defaults_to_the_last_blocks_first_layer_norm(built):
    model = built("vit")
    paths = cams.conv_layers(model)
    assert paths[-1] == "vit/vit_encoder/transformer_block_2/ln_1"
    assert "vit/vit_encoder/transformer_block_2" not in paths  # its patch tokens are dead
    assert paths[:4] == ["vit/vit_patching_and_embedding",
                         "vit/vit_encoder/transformer_block_1/ln_1",
                         "vit/vit_encoder/transformer_block_1",
                         "vit/vit_encoder/transformer_block_2/ln_1"]


def test_a_dead_layer_warns_and_names_one_that_works(built):
    model = built("vit")
    with pytest.warns(UserWarning, match="transformer_block_2/ln_1' is the last layer that works"):
        res = cams.explain(model, _images(), layer="vit/vit_encoder/transformer_block_2")
    assert not res.heatmaps.any()  # what the warning says: every map is zero there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cams.explain(model, _images(), layer="vit/vit_encoder/transformer_block_1")


def test_a_mean_pooled_head_keeps_the_last_block_alive():
    keras.utils.set_random_seed(0)
    model = _classifier(_vit(), "mean")
    assert cams.conv_layers(model)[-1] == "vit/vit_encoder"
    assert_live(cams.explain(model, _images()).heatmaps)


def test_swin_stages_have_their_own_grids(built):
    model = built("swin")
    grids = {path: cams.resolve_layer(model, path).grid
             for path in ("swin/stage_0/blocks_1", "swin/stage_0", "swin/stage_1/blocks_0")}
    assert grids == {"swin/stage_0/blocks_1": cams.TokenGrid(0, 8, 8),
                     "swin/stage_0": cams.TokenGrid(0, 4, 4),
                     "swin/stage_1/blocks_0": cams.TokenGrid(0, 4, 4)}


def test_swin_in_the_graph_backend_is_refused_saying_which_backend_works(built):
    with pytest.raises(ValueError, match="backend 'eager' explains it"):
        cams.explain(built("swin"), _images(1), backend="graph")


def test_every_label_of_a_multilabel_vit_head_in_one_pass():
    keras.utils.set_random_seed(1)
    model = _classifier(_vit(), "class", activation="sigmoid", n=4)
    x = _images()
    layer = LAYOUT["vit"][0]
    for backend in ("eager", "graph"):
        res = cams.explain(model, x, layer=layer, class_index="all", backend=backend)
        assert res.head == "multilabel" and res.heatmaps.shape == (2, 4, 4, 4)
        for label in range(4):
            want = oracle_gradcam("vit", model, x, np.array([label, label]))
            assert_live(want)
            np.testing.assert_allclose(res.heatmaps[:, label], want, atol=1e-4)


METHODS_ON_TOKENS = [m for m in cams.METHODS if m != "attention-rollout"]


@pytest.mark.parametrize("family", FAMILIES if ALL else ("dinov2_registers",))
@pytest.mark.parametrize("method", METHODS_ON_TOKENS)
def test_every_method_works_on_token_maps(family, method, built):
    model = built(family)
    x = _images()
    options = {"top_k": 8} if method == "scorecam" else {}
    found = {b: cams.explain(model, x, method=method, backend=b, **options)
             for b in backends_for(family)}
    eager = found["eager"]
    assert_live(eager.heatmaps)
    for res in found.values():
        np.testing.assert_allclose(res.heatmaps, eager.heatmaps, atol=1e-4)


def test_the_layer_sweep_on_a_vit(built):
    model = built("vit")
    x = _images(1)
    for path in cams.conv_layers(model):
        res = cams.explain(model, x, layer=path)
        assert res.heatmaps.shape == (1, 4, 4)
        assert_live(res.heatmaps)


def _unreadable():
    """Tokens that cams cannot lay on a grid: patches made by pooling, no patch convolution."""
    keras.utils.set_random_seed(2)
    x = keras.Input((SIZE, SIZE, 3))
    t = keras.layers.Reshape((16, 3))(keras.layers.AveragePooling2D(8)(x))
    t = keras.layers.Dense(32, name="embed")(t)
    t = keras.layers.Lambda(lambda t: keras.ops.concatenate(
        [keras.ops.mean(t, axis=1, keepdims=True), t], axis=1), name="with_class")(t)
    t = keras.layers.LayerNormalization(name="ln")(t)
    t = keras.layers.GlobalAveragePooling1D()(t)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="head")(t))


def test_tokens_cams_cannot_read_get_an_error_saying_what_was_found_then_tokens_option():
    model = _unreadable()
    x = _images()
    with pytest.raises(ValueError, match=r"17 tokens, which match no patch grid.*no patch "
                                         r"embedding.*tokens=cams.TokenGrid"):
        cams.explain(model, x, layer="ln")
    res = cams.explain(model, x, layer="ln", tokens=cams.TokenGrid(1, 4, 4))
    graph = cams.explain(model, x, layer="ln", tokens=(1, 4, 4), backend="graph")
    assert res.heatmaps.shape == (2, 4, 4)
    assert_live(res.heatmaps)
    np.testing.assert_allclose(graph.heatmaps, res.heatmaps, atol=1e-4)
    with pytest.raises(ValueError, match="outputs 17 tokens, but tokens=.* describes 18"):
        cams.explain(model, x, layer="ln", tokens=(2, 4, 4))
    with pytest.raises(TypeError, match="three ints"):
        cams.explain(model, x, layer="ln", tokens="1x4x4")


def test_tf_keras_vis_refuses_token_layers_naming_the_backends_that_can(built):
    pytest.importorskip("tf_keras_vis")
    with pytest.raises(ValueError, match="backends eager, graph"):
        cams.explain(built("clip"), _images(1), layer="clip/clip_encoder_block_0",
                     backend="tf-keras-vis")


def test_explaining_leaves_every_layer_as_it_was(built):
    model = built("vit")
    cams.explain(model, _images(1), layer="vit/vit_encoder/transformer_block_1/ln_1")
    assert all("call" not in vars(layer)
               for layer in model._flatten_layers(include_self=True, recursive=True))


def oracle_rollout(model, x):
    """Attention rollout of the tiny ViT by hand, from the probabilities its own attention
    layers return when asked (return_attention_scores=True): (N, 4, 4)."""
    enc = model.get_layer("vit").get_layer("vit_encoder")
    h = model.get_layer("vit").get_layer("vit_patching_and_embedding")(tf.constant(x))
    R = np.eye(h.shape[1])
    for block in enc.encoder_layers:
        a = block.layer_norm_1(h)
        _, scores = block.mha(a, a, return_attention_scores=True)
        P = scores.numpy().astype(np.float64).mean(axis=1)       # heads averaged
        A = 0.5 * P + 0.5 * np.eye(P.shape[-1])                  # the residual connection
        R = (A / A.sum(axis=-1, keepdims=True)) @ R
        h = block(h)
    flow = R[:, 0, 1:].reshape(len(x), 4, 4)                      # class token -> patches
    return flow / flow.max(axis=(1, 2), keepdims=True)


def test_attention_rollout_equals_the_probabilities_the_layers_return(built):
    model = built("vit")
    x = _images()
    want = oracle_rollout(model, x)
    assert_live(want)
    for backend in ("eager", "graph"):
        res = cams.explain(model, x, method="attention-rollout", backend=backend)
        np.testing.assert_allclose(res.heatmaps, want, atol=1e-4, err_msg=backend)
    assert "attention-rollout" in cams.TRANSFORMER_METHODS
    assert "attention-rollout" not in cams.METHODS  # the menus of every model list those


@pytest.mark.parametrize("family", ("deit", "dinov2_registers", "clip"))
def test_attention_rollout_in_other_families(family, built):
    model = built(family)
    found = [cams.explain(model, _images(), method="attention-rollout", backend=b).heatmaps
             for b in ("eager", "graph")]
    assert found[0].shape == (2, 4, 4)
    assert_live(found[0])
    np.testing.assert_allclose(found[1], found[0], atol=1e-4)


@pytest.mark.parametrize("family, match", [
    ("swin", "WindowAttention"), ("dinov3", "DINOV3Attention"), ("siglip", "no leading class")])
def test_attention_rollout_says_why_it_cannot(family, match, built):
    with pytest.raises(ValueError, match=match):
        cams.explain(built(family), _images(1), method="attention-rollout")


def test_kerashubs_own_vit_classifier_gets_live_maps_by_default():
    """KerasHub's ViTImageClassifier with its own head (random weights, 3 blocks): for these
    images Grad-CAM at the last live layer (the last block's first layer norm) is negative
    everywhere, every map blank. The default moves to the last layer whose maps are not blank,
    says so, and equals a hand-written tape there; a caller who names the blank layer is
    warned and keeps it."""
    keras.utils.set_random_seed(2)
    backbone = M.ViTBackbone(image_shape=(64, 64, 3), patch_size=8, num_layers=3, num_heads=2,
                             hidden_dim=32, mlp_dim=64, name="vit")
    model = M.ViTImageClassifier(backbone=backbone, num_classes=3, preprocessor=None)
    x = np.random.default_rng(2).uniform(size=(4, 64, 64, 3)).astype("float32")
    last = cams.conv_layers(model)[-1]
    assert last == "vit/vit_encoder/transformer_block_3/ln_1"
    with pytest.warns(UserWarning, match="block_3/ln_1' gives blank maps.*'vit/vit_encoder/"
                                         "transformer_block_2' gives maps that are not"):
        named = cams.explain(model, x, layer=last)
    assert not named.heatmaps.any()
    with pytest.warns(UserWarning, match="default layer .* explained at 'vit/vit_encoder/"
                                         "transformer_block_2'"):
        res = cams.explain(model, x)
    assert res.layer == "vit/vit_encoder/transformer_block_2"
    assert_live(res.heatmaps)
    # the tape: embedding and two blocks, then the third, the norm, the class token, the head
    enc, head = backbone.layers[2], model.get_layer("predictions")
    with tf.GradientTape() as tape:
        A = enc.encoder_layers[1](enc.encoder_layers[0](backbone.layers[1](tf.constant(x))))
        tape.watch(A)
        z = tf.matmul(enc.layer_norm(enc.encoder_layers[2](A))[:, 0], head.kernel) + head.bias
        S = tf.reduce_sum(tf.gather(z, res.class_index, axis=1, batch_dims=1))
    G = tape.gradient(S, A).numpy()[:, 1:].reshape(4, 8, 8, 32)
    A = A.numpy()[:, 1:].reshape(4, 8, 8, 32)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", A, G.mean(axis=(1, 2))), 0)
    np.testing.assert_allclose(res.heatmaps, cam / cam.max(axis=(1, 2), keepdims=True),
                               atol=1e-4)


class _SubclassedViT(keras.Model):
    """A subclassed classifier around a ViT backbone: the class token read in `call`."""

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone, self.head = backbone, keras.layers.Dense(N_CLASSES, name="head")

    def call(self, x):
        return self.head(self.backbone(x)[:, 0])


def _two_inputs_vit(backbone):
    """The ViT backbone on the image, three clinical values joined to its class token."""
    image, clinical = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((3,), name="clinical")
    token = keras.layers.Lambda(lambda t: t[:, 0], name="class_token")(backbone(image))
    joined = keras.layers.Concatenate()([token, keras.layers.Dense(4)(clinical)])
    return keras.Model([image, clinical], keras.layers.Dense(N_CLASSES, name="head")(joined))


def test_attention_rollout_of_subclassed_and_multi_input_models(built):
    """The attention layers are tapped on a subclassed model's own call and beside other
    inputs too: the same backbone gives the same rollout as the hand-written one."""
    model = built("vit")
    x = _images()
    want = oracle_rollout(model, x)
    assert_live(want)
    net = _SubclassedViT(model.get_layer("vit"), name="subclassed_vit")
    net(x[:1])
    # its default layer and grid are read as a Functional model's are (an attention layer's
    # 4-D projections, which are no maps, once took the default)
    assert cams.resolve_layer(net).path == cams.resolve_layer(model).path
    res = cams.explain(net, x, method="attention-rollout")
    np.testing.assert_allclose(res.heatmaps, want, atol=1e-4)
    assert_live(cams.explain(net, x).heatmaps)
    two = _two_inputs_vit(model.get_layer("vit"))
    clinical = np.random.default_rng(1).normal(size=(2, 3)).astype("float32")
    for backend in ("eager", "graph"):
        res = cams.explain(two, [x, clinical], method="attention-rollout", backend=backend)
        np.testing.assert_allclose(res.heatmaps, want, atol=1e-4, err_msg=backend)
