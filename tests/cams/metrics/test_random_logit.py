"""The random-logit check: another class's map against the class's own."""
import numpy as np
import pytest

from cams.metrics import random_logit
from cams.metrics.random_logit import other_classes


def test_the_other_class_is_never_the_images_own_and_is_drawn_the_same_each_run():
    classes = np.arange(200) % 5
    others = other_classes(classes, 5, seed=3)
    assert (others != classes).all() and set(others) == set(range(5))
    np.testing.assert_array_equal(others, other_classes(classes, 5, seed=3))
    with pytest.raises(ValueError, match="two classes"):
        other_classes(classes, 1)


def test_a_map_that_ignores_the_class_scores_one_and_one_that_follows_it_less():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 6, 1))
    own = np.array([0, 1, 2])
    blind = random_logit(lambda xs, cs: xs[..., 0], x, own, 3)
    np.testing.assert_allclose(blind, 1.0)
    follows = random_logit(lambda xs, cs: xs[..., 0] * (1 + np.asarray(cs))[:, None, None]
                           + rng.normal(size=xs.shape[:3]) * np.asarray(cs)[:, None, None],
                           x, own, 3)
    assert (follows < 1).all()
