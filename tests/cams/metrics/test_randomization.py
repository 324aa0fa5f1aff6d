"""The model-parameter randomization check: a map that ignores the model's weights fails it."""
import numpy as np
import pytest

import cams
from cams import cache, metrics
from tests import models


def explainer(method):
    return lambda model, x: cams.explain(model, x, layer="final", class_index=[1, 4],
                                         method=method).heatmaps


def test_copy_redraws_only_the_layers_above_and_leaves_the_caller_alone(fashion_cnn):
    before = [w.copy() for w in fashion_cnn.get_weights()]
    copy, redrawn = metrics.randomized_copy(fashion_cnn, "final", seed=3)
    assert redrawn == [leaf.path for leaf in cams.model.layers.leaves(fashion_cnn)
                       if leaf.layer.weights][-2:]                   # batch norm, then dense
    for a, b in zip(before, fashion_cnn.get_weights()):
        np.testing.assert_array_equal(a, b)
    kernel_before = fashion_cnn.layers[-1].get_weights()[0]
    assert np.abs(copy.layers[-1].get_weights()[0] - kernel_before).max() > 1e-3
    np.testing.assert_array_equal(copy.get_layer("final").get_weights()[0],
                                  fashion_cnn.get_layer("final").get_weights()[0])


def test_gradcam_passes_and_eigencam_fails(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=41, low=0)
    rho_gradcam = metrics.randomization_check(fashion_cnn, x, explainer("gradcam"), "final")
    rho_eigen = metrics.randomization_check(fashion_cnn, x, explainer("eigencam"), "final")
    assert np.all(rho_gradcam < 0.8)
    np.testing.assert_allclose(rho_eigen, 1.0)       # Eigen-CAM never looks above the layer


def test_rank_correlation_of_constant_maps_is_zero():
    assert metrics.rank_correlation(np.zeros((3, 3)), np.arange(9.0)) == 0.0
    assert metrics.rank_correlation(np.arange(9.0), np.arange(9.0) ** 2) == 1.0


def test_a_shared_copy_gives_what_a_fresh_copy_gives_and_is_kept(fashion_cnn):
    x = models.images((28, 28, 1), 2, seed=43, low=0)
    copy, _ = metrics.randomized_copy(fashion_cnn, "final", seed=0)
    fresh = metrics.randomization_check(fashion_cnn, x, explainer("gradcam"), "final")
    shared = metrics.randomization_check(fashion_cnn, x, explainer("gradcam"), "final",
                                         copy=copy)
    np.testing.assert_allclose(shared, fresh, atol=1e-6)
    assert np.all(np.abs(fresh) < 0.99)               # the copy's maps differ from the model's
    # what explain compiled for the shared copy stays for the next check
    assert cache._CACHES.get(copy)
    cams.forget(copy)


def test_maps_the_caller_has_give_what_a_fresh_explain_gives(fashion_cnn):
    """original= skips explaining the model again: the rhos are those the check computes
    itself, and explain runs on the randomized copy only."""
    x = models.images((28, 28, 1), 2, seed=44, low=0)
    copy, _ = metrics.randomized_copy(fashion_cnn, "final", seed=0)
    explain, calls = explainer("gradcam"), []
    counted = lambda model, xs: calls.append(model) or explain(model, xs)  # noqa: E731
    fresh = metrics.randomization_check(fashion_cnn, x, counted, "final", copy=copy)
    maps = explain(fashion_cnn, x)
    calls.clear()
    given = metrics.randomization_check(fashion_cnn, x, counted, "final", copy=copy,
                                        original=maps)
    assert calls == [copy]
    np.testing.assert_allclose(given, fresh, atol=1e-6)
    assert np.all(np.abs(fresh) < 0.99) and maps.std() > 0
    with pytest.raises(ValueError, match="original holds 1 maps for 2 images"):
        metrics.randomization_check(fashion_cnn, x, explain, "final", copy=copy,
                                    original=maps[:1])
    cams.forget(copy)


@pytest.mark.parametrize("name, shape", [
    ("GlorotUniform", (3, 3, 16, 32)), ("GlorotNormal", (64, 10)), ("HeNormal", (3, 3, 8, 64)),
    ("HeUniform", (128, 64)), ("LecunNormal", (256, 32)),
    ("RandomNormal", (200, 50)), ("RandomUniform", (200, 50)), ("TruncatedNormal", (200, 50))])
def test_weights_are_redrawn_with_numpy_as_keras_draws_them(name, shape):
    """The NumPy draw of each initializer has Keras' own draw's range and spread (the oracle:
    Keras' initializer itself), so the check is the same on every Keras backend."""
    import keras

    from cams.metrics.randomization import draw

    init = getattr(keras.initializers, name)(seed=3)
    ours = draw(init, shape, np.random.default_rng(0))
    theirs = keras.ops.convert_to_numpy(init(shape))
    assert ours.shape == theirs.shape
    assert ours.std() == pytest.approx(theirs.std(), rel=0.05)
    assert abs(ours.mean() - theirs.mean()) < 0.05 * theirs.std()
    assert np.abs(ours).max() <= np.abs(theirs).max() * 1.15 and \
        np.abs(ours).max() >= np.abs(theirs).max() * 0.85
    assert draw(keras.initializers.Orthogonal(), (4, 4), np.random.default_rng(0)) is None


def test_a_constant_initializer_keeps_its_values():
    """A Constant of an array (as a saved model reloads it) is drawn by Keras itself: it has no
    randomness, and the same values under every backend."""
    import keras

    from cams.metrics.randomization import draw

    init = keras.initializers.Constant(np.array([1.4, -0.9, 0.4]))
    init = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_allclose(draw(init, (3,), np.random.default_rng(0)), [1.4, -0.9, 0.4],
                               rtol=1e-6)
    assert (draw(keras.initializers.Zeros(), (2, 2), np.random.default_rng(0)) == 0).all()
