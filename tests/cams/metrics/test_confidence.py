"""The class probability every perturbation metric reads."""
import numpy as np

from cams import metrics
from tests import models
from tests.cams.metrics import region_model


def test_sigmoid_unit_gives_p_and_one_minus_p():
    model = region_model.build()
    x = np.concatenate([region_model.image(), np.zeros_like(region_model.image())])
    p = region_model.probability(x)
    np.testing.assert_allclose(metrics.class_probability(model, x, [1, 1]), p, rtol=1e-5)
    np.testing.assert_allclose(metrics.class_probability(model, x, [0, 1]), [1 - p[0], p[1]],
                               rtol=1e-5, atol=1e-6)


def test_a_single_linear_unit_is_a_regression_output_scored_as_it_is():
    """One linear unit is a regression head: its score is the output z itself, never a
    probability invented for it."""
    model = region_model.build(activation=None)
    x = region_model.image()
    z = np.log(region_model.probability(x) / (1 - region_model.probability(x)))
    np.testing.assert_allclose(metrics.class_probability(model, x, 0), z, rtol=1e-5)


def test_softmax_in_batches(fashion_cnn):
    x = models.images((28, 28, 1), 5, seed=40, low=0)
    expected = fashion_cnn.predict(x, verbose=0)[np.arange(5), [0, 1, 2, 3, 4]]
    got = metrics.class_probability(fashion_cnn, x, [0, 1, 2, 3, 4], batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
