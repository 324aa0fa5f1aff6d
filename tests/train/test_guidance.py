"""Lesion-mask guidance: the loss against a NumPy oracle, the map it supervises against cams'
Grad-CAM, masks that follow their images through augmentation, and training that moves the map."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import cams
from cams.io import preprocessing
from train import __main__ as trainer
from train import data, guidance, model as models


def _oracle(maps, cells):
    losses = []
    for m, c in zip(maps.reshape(len(maps), -1), cells.reshape(len(cells), -1)):
        if c.max() > 0:
            p = np.exp(m - m.max()) / np.exp(m - m.max()).sum()
            losses.append(-np.log((p * c).sum()))
    return np.mean(losses) if losses else 0.0


def test_location_loss_matches_numpy_and_skips_images_without_lesion():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(5, 4, 4)).astype(np.float32) * 3
    cells = (rng.uniform(size=(5, 4, 4)) > 0.7) * rng.uniform(0.2, 1, (5, 4, 4))
    cells[2] = 0  # a normal image
    cells = cells.astype(np.float32)
    got = float(guidance.location_loss(tf.constant(maps), tf.constant(cells)))
    assert got == pytest.approx(_oracle(maps, cells), rel=1e-4)
    assert got > 0.1
    assert float(guidance.location_loss(tf.constant(maps), tf.zeros_like(cells))) == 0.0


def test_location_loss_rewards_a_map_that_peaks_on_the_lesion():
    cells = np.zeros((1, 4, 4), np.float32)
    cells[0, 1, 2] = 1.0
    on, off = np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.float32)
    on[0, 1, 2], off[0, 3, 0] = 5.0, 5.0
    loss = lambda m: float(guidance.location_loss(tf.constant(m), tf.constant(cells)))  # noqa: E731
    assert loss(on) < 0.1 < np.log(16) - 0.1 < loss(np.zeros_like(on)) + 0.2 < loss(off)


def test_cell_masks_are_the_covered_share_of_each_cell():
    masks = np.zeros((1, 64, 64), bool)
    masks[0, :16, :16] = True     # all of cell (0, 0)
    masks[0, 16:24, 32:48] = True  # half of cell (1, 2)
    cells = guidance.cell_masks(tf.constant(masks), (4, 4)).numpy()[0]
    expected = np.zeros((4, 4))
    expected[0, 0], expected[1, 2] = 1.0, 0.5
    np.testing.assert_allclose(cells, expected, atol=1e-6)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_the_supervised_map_is_what_gradcam_draws(pooling):
    """ReLU of the class map is the Grad-CAM of the class logit, for both pooling heads.

    The trained base of the shipped model gives real feature maps: a base with random weights
    at this size gives maps of order 1e-7, which would agree with almost anything."""
    base = keras.models.load_model("models/xray_phantoms.keras", compile=False).get_layer(
        "mobilenetv2_0.35_224")
    keras.utils.set_random_seed(3)
    inputs = keras.Input((224, 224, 3))
    x = base(inputs, training=False)
    head = models.head_layers("mobilenetv2", 2, pooling)
    for layer in head:
        x = layer(x)
    net = keras.Model(inputs, x)
    images = preprocessing.get("mobilenetv2")(data.generate_phantoms(4, 1)[0].astype(np.float32))
    labels = np.array([1, 0, 1, 1])
    features, _ = guidance.GuidedTrainer(net, head, 1.0).twin(images, training=False)
    maps = np.maximum(guidance.class_maps(features, head[-1].kernel, labels).numpy(), 0)
    drawn = cams.explain(net, images, layer=f"{base.name}/block_13_expand_relu",
                         class_index=labels).heatmaps
    for m, d in zip(maps, drawn):
        assert m.max() > 0.1 and np.ptp(d) > 0.5, (m.max(), np.ptp(d))
        np.testing.assert_allclose(m / m.max(), d, atol=1e-4)


def test_masks_follow_their_images_through_augmentation():
    images, labels, _, masks = data.generate_phantoms(16, 2, 64)
    # An image that is its own mask shows whether the two moved together.
    square = np.zeros((16, 64, 64), np.float32)
    square[:, 10:30, 20:44] = 1.0
    aug = trainer.augmenter(5, "horizontal_and_vertical")
    x, m = data.augment_with_mask(aug, tf.constant(255.0 * np.repeat(square[..., None], 3, -1)),
                                  tf.constant(square))
    x, m = x.numpy(), m.numpy()
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert not np.array_equal(m, square), "the augmentation moved nothing"
    bright = x[..., 0] > 127.5
    iou = (bright & (m > 0)).sum(axis=(1, 2)) / (bright | (m > 0)).sum(axis=(1, 2))
    assert iou.min() > 0.85, iou


def test_guided_steps_move_the_class_map_onto_the_lesion():
    keras.utils.set_random_seed(7)
    net, _, head = models.build("mobilenetv2", 2, 64, None, alpha=0.35, pooling="max",
                                base_end="block_13_expand_relu")
    images, labels, _, masks = data.generate_phantoms(8, 6, 64)
    model = guidance.GuidedTrainer(net, head, 1.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    batch = data.dataset(images, labels, 8, preprocessing.get("mobilenetv2"), 0, shuffle=False,
                         masks=masks)
    kernel_before = head[-1].kernel.numpy().copy()
    # Training-mode losses: on 8 images, batch norm's moving statistics lag the batch's own.
    history = model.fit(batch, epochs=20, verbose=0).history["location_loss"]
    assert history[-1] < 0.6 * history[0], history
    assert not np.allclose(net.get_layer("predictions").kernel.numpy(), kernel_before)


def test_guidance_needs_masks_and_a_pooling_head(tmp_path, capsys):
    folder = tmp_path / "set"
    for name in ("a", "b"):
        for i in range(3):
            (folder / name).mkdir(parents=True, exist_ok=True)
            keras.utils.save_img(folder / name / f"{i}.png", np.full((8, 8, 3), 50 * i))
    out = str(tmp_path / "m.keras")
    assert trainer.main(["--data", str(folder), "--mask-guidance", "1", "--out", out]) == 2
    assert "--mask-guidance needs lesion masks" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        trainer.main(["--phantoms", "8", "--size", "128", "--backbone", "vgg16", "--weights",
                      "none", "--mask-guidance", "1", "--out", out])
    assert "global pooling head" in capsys.readouterr().err
    with pytest.raises(ValueError, match="global pooling head"):
        guidance.check_head(models.head_layers("vgg16", 2))
