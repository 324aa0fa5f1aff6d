"""Colouring and blending, at the image's own size or shrunk to max_side, for every image kind users
upload, in a few bytes per pixel."""
import numpy as np
import pytest

import cams

HEAT = np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)


@pytest.mark.parametrize("image", [
    np.zeros((40, 30), np.uint8),
    np.zeros((40, 30, 1), np.uint8),
    np.zeros((40, 30, 3), np.uint8),
    np.zeros((40, 30, 4), np.uint8),
    np.zeros((40, 30), np.uint16),
    np.zeros((40, 30, 3), np.float32),
])
def test_overlay_is_rgb_uint8_at_image_size(image):
    out = cams.overlay(image, HEAT)
    assert out.shape == (40, 30, 3) and out.dtype == np.uint8


def test_alpha_blends_between_image_and_colours():
    image = np.full((2, 2, 3), 100, np.uint8)
    colours = cams.colorize(HEAT)
    np.testing.assert_array_equal(cams.overlay(image, HEAT, alpha=0.0), image)
    np.testing.assert_array_equal(cams.overlay(image, HEAT, alpha=1.0), colours)
    half = cams.overlay(image, HEAT, alpha=0.5).astype(int)
    assert np.abs(half - (100 + colours.astype(int)) / 2).max() <= 1


def test_jet_runs_from_blue_to_red():
    colours = cams.colorize(np.array([[0.0, 1.0]]))
    assert colours[0, 0, 2] > 100 and colours[0, 0, 0] < 50      # cold: blue
    assert colours[0, 1, 0] > 100 and colours[0, 1, 2] < 50      # hot: red


def test_sixteen_bit_image_is_scaled():
    out = cams.overlay(np.full((4, 4), 65535, np.uint16), HEAT, alpha=0.0)
    assert out.min() == 255


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 1.5}, "alpha must be in"), ({"colormap": "nope"}, "unknown colormap"),
])
def test_bad_overlay_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cams.overlay(np.zeros((4, 4, 3), np.uint8), HEAT, **kwargs)


def test_bad_image_shape():
    with pytest.raises(ValueError, match="image must be"):
        cams.overlay(np.zeros((4, 4, 5)), HEAT)


def test_colours_are_matplotlibs():
    import matplotlib

    heat = np.random.default_rng(0).random((30, 40)).astype(np.float32)
    heat[0, :4] = [0.0, 1.0, np.nan, 0.5]
    for name in ("jet", "turbo", "inferno", "viridis", "magma", "gray"):
        expected = matplotlib.colormaps[name](np.clip(np.nan_to_num(heat), 0, 1))[..., :3]
        np.testing.assert_array_equal(cams.colorize(heat, name),
                                      (expected * 255).round().astype(np.uint8))


@pytest.mark.parametrize("shape, dtype", [((300, 200), np.uint8), ((300, 200, 4), np.uint8),
                                          ((300, 200, 1), np.uint16), ((300, 200, 3), np.float32),
                                          ((300, 200), bool)])
def test_max_side_shrinks_the_image_first(shape, dtype):
    image = (np.arange(np.prod(shape)).reshape(shape) % 2).astype(dtype)
    out = cams.overlay(image, HEAT, max_side=60)
    assert out.shape == (60, 40, 3) and out.dtype == np.uint8
    assert cams.overlay(image, HEAT, max_side=300).shape == (300, 200, 3)  # not enlarged
    assert cams.overlay(image, HEAT, max_side=None).shape == (300, 200, 3)
    from cams.io import overlays

    np.testing.assert_array_equal(cams.overlay(image, HEAT, 0.3, max_side=60),
                                  cams.overlay(overlays.shrink(image, 60), HEAT, 0.3))


def test_an_overlay_costs_a_few_bytes_per_pixel():
    """At the image's own size: the colours and the blend are uint8 (float64 cost ~90 B/px)."""
    import tracemalloc

    image = np.zeros((2000, 1500), np.uint8)
    cams.overlay(image[:8, :8], HEAT)  # the colour table and matplotlib's colormaps, once
    tracemalloc.start()
    try:
        cams.overlay(image, HEAT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / image.size < 12, f"{peak / image.size:.1f} bytes per pixel"
    tracemalloc.start()
    try:
        cams.overlay(image, HEAT, max_side=500)
        _, small = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert small < 12 * 500 * 375  # the same at the shrunk size: nothing at full size
