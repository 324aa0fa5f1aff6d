"""Sparseness (Gini) and entropy against their papers' formulas on maps computed by hand."""
import numpy as np

from cams.metrics import entropy, sparseness


def test_gini_and_entropy_of_a_map_worked_by_hand():
    """[[1, 2], [3, 4]] at its own size: sorted a = 1, 2, 3, 4, weights 2i - n - 1 = -3, -1, 1,
    3, so G = (-3 - 2 + 3 + 12) / (4 * 10) = 0.25; shares 0.1..0.4, H = -sum p ln p."""
    heat = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_allclose(sparseness(heat, (2, 2)), [0.25], atol=1e-12)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(entropy(heat, (2, 2)), [-(p * np.log(p)).sum()], atol=1e-12)


def test_even_and_one_pixel_maps_are_the_bounds():
    even, spike, zero = np.ones((4, 4)), np.zeros((4, 4)), np.zeros((4, 4))
    spike[1, 2] = 3.0
    maps = np.stack([even, spike, zero])
    np.testing.assert_allclose(sparseness(maps, (4, 4)), [0.0, 15 / 16, 0.0], atol=1e-12)
    np.testing.assert_allclose(entropy(maps, (4, 4)), [np.log(16), 0.0, np.log(16)],
                               atol=1e-12)


def test_maps_are_taken_at_the_size_they_are_shown_and_as_absolute_values():
    heat = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    shown = sparseness(heat, (8, 8))          # bilinear upsampling spreads the mass
    assert 0 < shown[0] < sparseness(heat, (2, 2))[0]
    np.testing.assert_allclose(sparseness(-heat, (8, 8)), shown)
    np.testing.assert_allclose(entropy(-heat, (8, 8)), entropy(heat, (8, 8)))
