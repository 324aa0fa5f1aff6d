"""Every method in every backend that has it, flat and nested models: the backends agree, and
tf-keras-vis' GradcamPlusPlus, Layercam and Scorecam agree with cams under their conventions.
Each compared map must be non-degenerate (max 1, not constant)."""
import numpy as np
import pytest

import cams
from tests import models
from tests.cams.test_agreement import TOLERANCE, assert_agree

CONVENTIONS = cams.conventions("tf-keras-vis")

# case: (fixture, images, layer, classes); Score-CAM keeps its top 16 channels to stay cheap.
CASES = {
    "flat": ("fashion_cnn", lambda: models.images((28, 28, 1), 3, seed=21, low=0), "final",
             [1, 4, 9]),
    "nested": ("vgg16_transfer", lambda: models.vgg_images(2, seed=22), "vgg16/block5_conv3",
               [0, 1]),
    "nested_sigmoid": ("mobilenet_sigmoid", models.mobilenet_images, "block_16_project_BN",
                       [1, 0]),
}
EXTRA = {"scorecam": {"top_k": 16}}
_memo = {}


def explained(request, case, method, backend, conventions=False):
    key = (case, method, backend, conventions)
    if key not in _memo:
        fixture, make_images, layer, classes = CASES[case]
        options = {**EXTRA.get(method, {}), **(CONVENTIONS.get(method, {}) if conventions else {})}
        _memo[key] = cams.explain(request.getfixturevalue(fixture), make_images(), layer=layer,
                                  class_index=classes, method=method, backend=backend, **options)
    return _memo[key]


# MobileNetV2's last block with random weights gives every cell the same activations to 1e-11:
# kernel PCA, which is not scale-free as PCA is, finds no component there (the test below)
FLAT = {("nested_sigmoid", "kpcacam")}


@pytest.mark.parametrize("case, method", [(c, m) for c in CASES for m in cams.METHODS
                                          if (c, m) not in FLAT])
def test_eager_and_graph_agree(request, case, method):
    eager = explained(request, case, method, "eager")
    graph = explained(request, case, method, "graph")
    np.testing.assert_array_equal(eager.class_index, graph.class_index)
    assert_agree(eager.heatmaps, graph.heatmaps, f"{case} {method} eager vs graph")
    if eager.attributions is not None:
        np.testing.assert_allclose(eager.attributions, graph.attributions,
                                   atol=1e-5 * np.abs(eager.attributions).max())


def test_kpca_cam_draws_nothing_where_every_cell_is_alike(request):
    for backend in ("eager", "graph"):
        maps = explained(request, "nested_sigmoid", "kpcacam", backend).heatmaps
        assert (maps == 0).all(), backend
    eigen = explained(request, "nested_sigmoid", "eigencam", "eager").heatmaps
    assert (eigen.max(axis=(1, 2)) == 1).all()   # PCA still finds the cells' tiny spread


@pytest.mark.parametrize("method", list(CONVENTIONS))
@pytest.mark.parametrize("case", ["flat", "nested"])
def test_tf_keras_vis_agrees_under_its_conventions(request, case, method):
    ours = explained(request, case, method, "eager", conventions=True)
    theirs = explained(request, case, method, "tf-keras-vis", conventions=True)
    np.testing.assert_array_equal(ours.class_index, theirs.class_index)
    assert_agree(ours.heatmaps, theirs.heatmaps, f"{case} {method} eager vs tf-keras-vis")


def test_conventions_matter(request):
    """The paper's Grad-CAM++ and Score-CAM differ from tf-keras-vis' variants by more than the
    agreement tolerance, so the options are not decoration."""
    for method in ("gradcam++", "scorecam"):
        paper = explained(request, "flat", method, "eager")
        tfkv = explained(request, "flat", method, "eager", conventions=True)
        assert np.abs(paper.heatmaps - tfkv.heatmaps).max() > 2 * TOLERANCE, method


@pytest.mark.parametrize("method", [m for m in cams.METHODS if m not in CONVENTIONS])
def test_tf_keras_vis_names_the_backends_that_can(fashion_cnn, method):
    x = models.images((28, 28, 1), 1, seed=23, low=0)
    with pytest.raises(ValueError, match="eager, graph"):
        cams.explain(fashion_cnn, x, layer="final", method=method, backend="tf-keras-vis")


def test_tf_keras_vis_refuses_the_paper_forms(fashion_cnn):
    x = models.images((28, 28, 1), 1, seed=23, low=0)
    with pytest.raises(ValueError, match="normalize_alphas=True"):
        cams.explain(fashion_cnn, x, method="gradcam++", backend="tf-keras-vis")
    with pytest.raises(ValueError, match="upsampling='align-corners'"):
        cams.explain(fashion_cnn, x, method="scorecam", backend="tf-keras-vis", top_k=4)
    with pytest.raises(ValueError, match="score='probability'"):
        cams.explain(fashion_cnn, x, method="scorecam", backend="tf-keras-vis", top_k=4,
                     upsampling="align-corners", score="logit")
