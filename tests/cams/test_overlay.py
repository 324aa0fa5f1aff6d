"""Colouring and blending at the image's own size, for every image kind users upload."""
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
