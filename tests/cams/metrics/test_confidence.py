"""The class probability every perturbation metric reads."""
import numpy as np

from cams import cache, metrics
from cams.metrics import confidence
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


def test_blocks_share_full_batches_and_keep_their_order(fashion_cnn):
    """Blocks of 3, 1, 5 and 2 images in batches of 4: three forward passes (4, 4, 3), and each
    image's probability where one call on all of them puts it."""
    x = models.images((28, 28, 1), 11, seed=42, low=0)
    classes = np.arange(11) % 10
    compiled = cache.cached(fashion_cnn, "class_probability",
                            lambda: confidence._probabilities_fn(fashion_cnn))
    sizes = []
    blocks = [(x[a:b], classes[a:b]) for a, b in ((0, 3), (3, 4), (4, 9), (9, 11))]
    try:
        cache.forget(fashion_cnn)
        cache.cached(fashion_cnn, "class_probability",
                     lambda: lambda xs, cs, n: sizes.append(n) or compiled(xs, cs, n))
        got = metrics.class_probability_of_blocks(fashion_cnn, blocks, batch_size=4)
    finally:
        cache.forget(fashion_cnn)
    assert sizes == [4, 4, 3]
    expected = fashion_cnn.predict(x, verbose=0)[np.arange(11), classes]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert expected.std() > 1e-3                        # the images get different values


def test_a_producer_may_reuse_its_array_and_batches_run_while_it_fills(fashion_cnn):
    """Blocks come from one array the producer overwrites after each yield (as the perturbation
    metrics do); every image is scored as it was when yielded, across batches that the model
    runs on its worker thread."""
    x = models.images((28, 28, 1), 9, seed=45, low=0)
    classes = np.arange(9) % 10
    buffer = np.empty((3, 28, 28, 1), np.float32)

    def blocks():
        for start in range(0, 9, 3):
            buffer[...] = x[start:start + 3]
            yield buffer, classes[start:start + 3]
            buffer[...] = 0                              # the producer moves on
    got = metrics.class_probability_of_blocks(fashion_cnn, blocks(), batch_size=4)
    expected = fashion_cnn.predict(x, verbose=0)[np.arange(9), classes]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert expected.std() > 1e-3
