"""Max-sensitivity and the local Lipschitz estimate on explainers whose answers are known."""
import numpy as np

from cams.metrics import local_lipschitz, max_sensitivity


def _images():
    x = np.zeros((2, 8, 8, 1), np.float32)
    x[:, :4] = 1.0                       # value range 1
    x[1] *= 3.0                          # range 3
    return x, np.zeros(2, np.int64)


def test_a_linear_map_has_its_slope_as_lipschitz_estimate():
    x, classes = _images()
    for slope in (1.0, 2.5):
        estimate = local_lipschitz(lambda xs, cs: slope * xs[..., 0], x, classes, samples=3)
        np.testing.assert_allclose(estimate, slope, rtol=1e-5)


def test_max_sensitivity_is_the_relative_change_of_the_map():
    """A map that ignores the image never changes (0); the image as its own map changes by
    ||d|| / ||x||, at most radius * range * sqrt(H W) / ||x||; a map scaled by 5 changes by the
    same share (the ratio is scale-free)."""
    x, classes = _images()
    assert (max_sensitivity(lambda xs, cs: np.ones(xs.shape[:3]), x, classes) == 0).all()
    itself = max_sensitivity(lambda xs, cs: xs[..., 0], x, classes, radius=0.02, samples=4)
    bound = 0.02 * np.array([1.0, 3.0]) * 8 / np.linalg.norm(x.reshape(2, -1), axis=1)
    assert (itself > 0.4 * bound).all() and (itself <= bound).all()
    scaled = max_sensitivity(lambda xs, cs: 5 * xs[..., 0], x, classes, radius=0.02, samples=4)
    np.testing.assert_allclose(scaled, itself, rtol=1e-5)
    again = max_sensitivity(lambda xs, cs: xs[..., 0], x, classes, radius=0.02, samples=4)
    np.testing.assert_array_equal(again, itself)              # seeded: the same draws
