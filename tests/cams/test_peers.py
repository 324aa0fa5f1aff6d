"""cams against pytorch-grad-cam 1.5.7, a peer's implementation as the oracle, on a
weight-for-weight PyTorch twin of a small Keras CNN: every method the two share gives the same
maps.

pytorch-grad-cam is installed without its dependencies (`pip install --no-deps -r
requirements-peers.txt`): torchvision from PyPI does not load beside the CPU build of torch
here, and the library needs only three of its names, at import, which a stand-in gives. Its
maps are min-max scaled and resized to the input; the twin's target layer keeps the input's
size (no resize), and cams' maps (divided by their maximum) are min-max scaled the same way
before they are compared.
"""
import sys
import types

import keras
import numpy as np
import pytest

import cams

torch = pytest.importorskip("torch")
SIZE, CLASSES = 16, 4


def _pytorch_grad_cam():
    """The pytorch_grad_cam package, a stand-in for torchvision given while it imports when
    the real one is not there."""
    try:
        import torchvision  # noqa: F401
        stand_in = False
    except Exception:   # absent, or a build that does not load beside this torch
        stand_in = True
        vision = types.ModuleType("torchvision")
        transforms = types.ModuleType("torchvision.transforms")
        functional = types.ModuleType("torchvision.transforms.functional")
        for name in ("Compose", "Normalize", "ToTensor"):
            setattr(transforms, name, lambda *args, **kwargs: None)
        functional.resize = lambda *args, **kwargs: None
        transforms.functional, vision.transforms = functional, transforms
        saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.transforms",
                                                  "torchvision.transforms.functional")}
        sys.modules.update({"torchvision": vision, "torchvision.transforms": transforms,
                            "torchvision.transforms.functional": functional})
    try:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    finally:
        if stand_in:   # other tests must not see it
            for key, module in saved.items():
                if module is None:
                    sys.modules.pop(key, None)
                else:
                    sys.modules[key] = module
    return pytorch_grad_cam, ClassifierOutputTarget


def _keras_cnn(biases=False):
    """The Keras CNN; biases: its convolutions' biases drawn, not left at zero (for FullGrad,
    which reads them)."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax",
                                                   name="head")(x))
    rng = np.random.default_rng(11)
    for name in ("conv1", "conv2") if biases else ():
        kernel, bias = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights([kernel, rng.normal(0, 0.2, bias.shape)])
    return model


class _Twin(torch.nn.Module):
    """The Keras CNN in PyTorch, its weights copied: NCHW, the same convolutions, the head's
    logits (pytorch-grad-cam's targets read the model's output, cams the logit)."""

    def __init__(self, model):
        super().__init__()
        self.block1 = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU())
        self.block2 = torch.nn.Sequential(torch.nn.Conv2d(6, 8, 3, padding=1), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, CLASSES)
        with torch.no_grad():
            for block, name in ((self.block1, "conv1"), (self.block2, "conv2")):
                kernel, bias = model.get_layer(name).get_weights()
                block[0].weight.copy_(torch.tensor(kernel.transpose(3, 2, 0, 1)))
                block[0].bias.copy_(torch.tensor(bias))
            kernel, bias = model.get_layer("head").get_weights()
            self.head.weight.copy_(torch.tensor(kernel.T))
            self.head.bias.copy_(torch.tensor(bias))

    def forward(self, x):
        return self.head(self.block2(self.block1(x)).mean(dim=(2, 3)))


def _min_max(maps):
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
    return ((flat - low) / (high - low + 1e-7)).reshape(maps.shape)


@pytest.fixture(scope="module")
def pair():
    return _pair(_keras_cnn())


@pytest.fixture(scope="module")
def biased_pair():
    return _pair(_keras_cnn(biases=True))


def _pair(model):
    twin = _Twin(model).eval()
    x = np.random.default_rng(5).normal(size=(3, SIZE, SIZE, 3)).astype(np.float32)
    logits = twin(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
                               probabilities, atol=1e-5)         # the twin is the same model
    return model, twin, x


SHARED = {"gradcam": ("GradCAM", {}), "hirescam": ("HiResCAM", {}),
          "xgradcam": ("XGradCAM", {}), "layercam": ("LayerCAM", {}),
          "gradcam++": ("GradCAMPlusPlus", {"epsilon": 1e-6}),
          "gradcam-elementwise": ("GradCAMElementWise", {}), "fem": ("FEM", {}),
          "ablationcam": ("AblationCAM", {}), "segeigencam": ("SegEigenCAM", {})}


def _theirs(pair, name, classes, targets=None):
    """pytorch-grad-cam's maps, and the activations and gradients it read (N, C, h, w).
    targets: its target objects, one per image (default: each class's output)."""
    model, twin, x = pair
    library, target = _pytorch_grad_cam()
    with getattr(library, name)(model=twin, target_layers=[twin.block2]) as peer:
        maps = peer(input_tensor=torch.tensor(x.transpose(0, 3, 1, 2)),
                    targets=targets or [target(c) for c in classes])
        read = getattr(peer, "base_cam", peer).activations_and_grads
        activations = read.activations[0].detach().numpy()
        gradients = read.gradients[0].detach().numpy() if read.gradients else None
    flat = maps.reshape(len(maps), -1)
    assert (flat.max(axis=1) > 0.99).all() and (flat.std(axis=1) > 0.05).all()  # alive
    return maps, activations, gradients


@pytest.mark.parametrize("method", SHARED)
def test_every_shared_method_equals_pytorch_grad_cam(pair, method):
    model, _, x = pair
    classes = [1, 3, 0]
    name, options = SHARED[method]
    theirs = _theirs(pair, name, classes)[0]
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method=method,
                        **options).heatmaps
    assert theirs.shape == ours.shape == (3, SIZE, SIZE)
    assert np.abs(_min_max(ours) - theirs).max() <= 1e-4, method


def test_grad_cam_plus_plus_differs_from_pytorch_grad_cam_by_its_epsilon_only(pair):
    """The closed form (epsilon 0, cams' default) against pytorch-grad-cam's 1e-6 in the
    alphas' denominator: on a 16 x 16 layer, whose gradients are about 1e-3, the maps differ."""
    model, _, x = pair
    theirs = _theirs(pair, "GradCAMPlusPlus", [1, 3, 0])[0]
    exact = cams.explain(model, x, layer="conv2", class_index=[1, 3, 0], method="gradcam++")
    assert np.abs(_min_max(exact.heatmaps) - theirs).max() > 0.05


@pytest.mark.parametrize("method, name", [("eigencam", "EigenCAM"),
                                          ("eigengradcam", "EigenGradCAM"),
                                          ("kpcacam", "KPCA_CAM")])
def test_the_eigen_methods_equal_pytorch_grad_cam_up_to_the_eigenvectors_sign(pair, method,
                                                                              name):
    """An eigenvector's sign is arbitrary: pytorch-grad-cam keeps the SVD's, cams turns the
    projection to rise with the total of what is projected (the activations, or gradient times
    activation). Each image's map is pytorch-grad-cam's projection, or its negative, whichever
    rises so."""
    model, _, x = pair
    classes = [1, 3, 0]
    theirs, activations, gradients = _theirs(pair, name, classes)
    projected = activations if method != "eigengradcam" else activations * gradients
    ours = _min_max(cams.explain(model, x, layer="conv2", class_index=classes,
                                 method=method).heatmaps)
    signs = []
    for i, a in enumerate(projected.astype(np.float64)):
        cells = a.reshape(a.shape[0], -1).T
        centred = cells - cells.mean(axis=0)
        projection = (centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
                      if method != "kpcacam" else _kernel_pca(centred))
        same = _min_max(np.maximum(projection, 0).reshape(1, SIZE, SIZE))[0]
        if np.abs(same - theirs[i]).max() > 1e-4:   # the SVD gave the other sign there
            projection = -projection
            same = _min_max(np.maximum(projection, 0).reshape(1, SIZE, SIZE))[0]
        assert np.abs(same - theirs[i]).max() <= 1e-4, i    # theirs: relu of the projection
        rises = projection @ cells.sum(axis=1) >= 0
        signs.append(bool(rises))
        mine = same if rises else _min_max(
            np.maximum(-projection, 0).reshape(1, SIZE, SIZE))[0]
        assert np.abs(ours[i] - mine).max() <= 1e-4, i
    if method == "eigencam":
        assert False in signs   # an image where the two signs differ is among them


def _kernel_pca(cells):
    """The cells' projection on their first sigmoid-kernel principal component, by
    scikit-learn (what pytorch-grad-cam's KPCA-CAM calls)."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    return decomposition.KernelPCA(n_components=1, kernel="sigmoid").fit_transform(cells)[:, 0]


def test_finer_cam_equals_pytorch_grad_cam(pair):
    """Finer-CAM against pytorch-grad-cam's FinerCAM with its FinerWeightedTarget: each image's
    class against the three classes whose logits lie nearest to it, found here from the twin's
    logits."""
    model, twin, x = pair
    classes = [1, 3, 0]
    logits = twin(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
    from pytorch_grad_cam.utils.model_targets import FinerWeightedTarget
    targets = []
    for i, c in enumerate(classes):
        nearest = [int(j) for j in np.argsort(np.abs(logits[i] - logits[i, c])) if j != c][:3]
        targets.append(FinerWeightedTarget(c, nearest, 1.0))
    theirs = _theirs(pair, "FinerCAM", classes, targets)[0]
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method="finercam")
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4
    gradcam = cams.explain(model, x, layer="conv2", class_index=classes)
    assert np.abs(_min_max(gradcam.heatmaps) - theirs).max() > 0.05   # not Grad-CAM's map


class _Probability:
    """A pytorch-grad-cam target: the class's softmax probability (Shapley-CAM's score here)."""

    def __init__(self, category):
        self.category = category

    def __call__(self, output):
        return torch.softmax(output, dim=-1)[..., self.category]


def test_shapley_cam_equals_pytorch_grad_cam_on_the_probability(pair):
    """Shapley-CAM's Hessian term is alive here (the softmax bends the score), so the map is
    not Grad-CAM's; pytorch-grad-cam's, on the same score, is the same map."""
    model, _, x = pair
    classes = [1, 3, 0]
    theirs = _theirs(pair, "ShapleyCAM", classes, [_Probability(c) for c in classes])[0]
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method="shapleycam")
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4
    gradcam = cams.explain(model, x, layer="conv2", class_index=classes, score="probability")
    assert np.abs(_min_max(gradcam.heatmaps) - theirs).max() > 1e-3   # the Hessian counts


def test_full_grad_equals_pytorch_grad_cam(biased_pair):
    """FullGrad reads every convolution's bias (the twin's two, before their ReLUs; the Keras
    CNN fuses the ReLU, which cams reads through) and the input gradient, whatever the layer."""
    model, twin, x = biased_pair
    classes = [1, 3, 0]
    library, target = _pytorch_grad_cam()
    peer = library.FullGrad(model=twin, target_layers=[])
    theirs = peer(input_tensor=torch.tensor(x.transpose(0, 3, 1, 2)),
                  targets=[target(c) for c in classes])
    peer.activations_and_grads.release()
    flat = theirs.reshape(len(theirs), -1)
    assert (flat.max(axis=1) > 0.99).all() and (flat.std(axis=1) > 0.05).all()   # alive
    ours = cams.explain(model, x, class_index=classes, method="fullgrad")
    assert ours.heatmaps.shape == theirs.shape == (3, SIZE, SIZE)
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4
    # the biases' part counts: the input's part alone is another map
    from cams import cache
    from cams.backends.backend import PrimitiveBackend
    from cams.methods.fullgrad import fullgrad

    engine = next(v for v in cache._CACHES[model].values() if isinstance(v, PrimitiveBackend))
    R = engine.bias_gradients(x, np.array(classes, np.int32))[0]
    assert np.abs(fullgrad(x, R, []) - theirs).max() > 0.05



def _alive(maps):
    flat = maps.reshape(len(maps), -1)
    assert (flat.max(axis=1) > 0.99).all() and (flat.std(axis=1) > 0.05).all()


def test_random_cam_equals_pytorch_grad_cam_from_the_same_seed(pair):
    """pytorch-grad-cam draws each call's weights from NumPy's global state; seeded the same
    before each one-image call, it draws cams' weights, which every image shares."""
    model, twin, x = pair
    classes = [1, 3, 0]
    library, target = _pytorch_grad_cam()
    theirs = []
    for i, c in enumerate(classes):
        np.random.seed(7)
        with library.RandomCAM(model=twin, target_layers=[twin.block2]) as peer:
            theirs.append(peer(input_tensor=torch.tensor(x[i:i + 1].transpose(0, 3, 1, 2)),
                               targets=[target(c)])[0])
    theirs = np.stack(theirs)
    _alive(theirs)
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method="randomcam",
                        seed=7)
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4
    other = cams.explain(model, x, layer="conv2", method="randomcam", seed=8)
    assert np.abs(other.heatmaps - ours.heatmaps).max() > 0.05   # the seed counts


@pytest.mark.parametrize("base, name", [("gradcam", "GradCAM"), ("hirescam", "HiResCAM")])
def test_refine_cam_equals_pytorch_grad_cam(pair, base, name):
    """RefineCAM over both convolutions: the product of the base method's scaled maps."""
    model, twin, x = pair
    classes = [1, 3, 0]
    library, target = _pytorch_grad_cam()
    peer = library.RefineCAM(model=twin, target_layers=[twin.block1, twin.block2],
                             base_method=getattr(library, name))
    theirs = peer(input_tensor=torch.tensor(x.transpose(0, 3, 1, 2)),
                  targets=[target(c) for c in classes])
    for each in peer.base_cam_per_layer:
        each.activations_and_grads.release()
    _alive(theirs)
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method="refinecam",
                        layers=["conv1"], base=base)
    assert ours.heatmaps.shape == theirs.shape == (3, SIZE, SIZE)
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4
    alone = cams.explain(model, x, layer="conv2", class_index=classes, method=base)
    assert np.abs(_min_max(alone.heatmaps) - theirs).max() > 0.05   # conv1's map counts


def test_seg_eigen_cam_equals_pytorch_grad_cam_where_gradients_change_sign():
    """Under a global-average-pooling head each channel's gradient is one number, and |G| * A
    projects as G * A does (a channel's sign does not move a principal component); on
    gradients that change sign within a channel, pytorch-grad-cam's own formula decides."""
    library, _ = _pytorch_grad_cam()
    from pytorch_grad_cam.seg_eigen_cam import SegEigenCAM
    from cams.methods.segeigencam import segeigencam
    rng = np.random.default_rng(3)
    A = np.maximum(rng.normal(size=(3, 6, 7, 5)), 0)
    G = rng.normal(size=A.shape)
    theirs = np.maximum(SegEigenCAM.get_cam_image(
        None, None, None, None, A.transpose(0, 3, 1, 2), G.transpose(0, 3, 1, 2), False), 0)
    _alive(_min_max(theirs))
    assert np.abs(_min_max(segeigencam(A, G)) - _min_max(theirs)).max() <= 1e-4
    signed = _min_max(cams.methods.eigengradcam.eigengradcam(A, G))
    assert np.abs(signed - _min_max(theirs)).max() > 0.05   # not the signed gradient's map


SMOOTHED = {m: SHARED[m] for m in ("gradcam", "hirescam", "xgradcam", "layercam", "gradcam++",
                                   "gradcam-elementwise", "ablationcam")}


@pytest.mark.parametrize("method", SMOOTHED)
def test_eigen_smooth_equals_pytorch_grad_cam_signed_to_rise_with_the_sum(pair, method,
                                                                         monkeypatch):
    """eigen_smooth projects the weighted activations on their first principal component.
    pytorch-grad-cam keeps the SVD's sign; here its projection is turned, as cams turns it, to
    rise with the sum of what is projected (its map without eigen_smooth, before the ReLU)."""
    model, twin, x = pair
    classes = [1, 3, 0]
    library, target = _pytorch_grad_cam()
    import importlib

    from pytorch_grad_cam.utils import svd_on_activations

    def signed(batch):
        projection = svd_on_activations.get_2d_projection(batch)
        rises = np.einsum("nhw,nhw->n", projection, batch.sum(axis=1)) >= 0
        return np.where(rises[:, None, None], projection, -projection)

    for module in ("base_cam", "hirescam", "layer_cam", "grad_cam_elementwise"):
        monkeypatch.setattr(importlib.import_module(f"pytorch_grad_cam.{module}"),
                            "get_2d_projection", signed)
    name, options = SMOOTHED[method]
    with getattr(library, name)(model=twin, target_layers=[twin.block2]) as peer:
        theirs = peer(input_tensor=torch.tensor(x.transpose(0, 3, 1, 2)),
                      targets=[target(c) for c in classes], eigen_smooth=True)
    _alive(theirs)
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method=method,
                        eigen_smooth=True, **options).heatmaps
    assert np.abs(_min_max(ours) - theirs).max() <= 1e-4, method
    plain = cams.explain(model, x, layer="conv2", class_index=classes, method=method,
                         **options).heatmaps
    assert np.abs(_min_max(plain) - theirs).max() > 0.05, method   # smoothing changes the map


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "xgradcam"])
def test_aug_smooth_equals_pytorch_grad_cam(biased_pair, method):
    """aug_smooth averages the maps of the image mirrored and multiplied by 0.9, 1 and 1.1 (six
    passes), each mirrored back and min-max scaled, as pytorch-grad-cam does with ttach. (With
    zero biases a ReLU network's maps would not see the factors: the biased twin.)"""
    model, twin, x = biased_pair
    classes = [1, 3, 0]
    library, target = _pytorch_grad_cam()
    name = SHARED[method][0]
    with getattr(library, name)(model=twin, target_layers=[twin.block2]) as peer:
        theirs = peer(input_tensor=torch.tensor(x.transpose(0, 3, 1, 2)),
                      targets=[target(c) for c in classes], aug_smooth=True)
    theirs = _min_max(theirs)
    _alive(theirs)
    ours = cams.explain(model, x, layer="conv2", class_index=classes, method=method,
                        aug_smooth=True)
    assert ours.options["aug_smooth"] is True
    assert np.abs(_min_max(ours.heatmaps) - theirs).max() <= 1e-4, method
    plain = cams.explain(model, x, layer="conv2", class_index=classes, method=method)
    assert np.abs(_min_max(plain.heatmaps) - theirs).max() > 0.02, method   # it averages
