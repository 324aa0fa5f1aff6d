"""The same saved models explained under Keras' TensorFlow, JAX and PyTorch backends give the
same maps (within 1e-4, each non-degenerate), for every method in cams.METHODS.

Models are built and saved once here, under TensorFlow (this process), which also computes the
reference with the eager backend; each other Keras backend then runs every job in one
subprocess (KERAS_BACKEND is read when keras is first imported, so a process keeps its backend)
through tests/cams/keras_backends_worker.py, and the maps it saves are compared with these.

Covered by default: a small CNN with batch norm, a skip connection, a fused-softmax head (every
method; the probability score; a layer before the skip; frozen; weights changed after the
first call; under mixed precision, within 5e-3), a multi-label sigmoid head with
class_index="all", a subclassed model, a model with two inputs, and keras.applications VGG16
(flat) and MobileNetV2 (nested as a base).
CAMS_ALL_KERAS_BACKENDS=1 adds ResNet50, DenseNet121 and EfficientNetB0, flat and nested, at an
inner layer of the base too (JAX compiles each for minutes on a small CPU); TensorFlow stays
importable then, since Keras' preprocessing layers in EfficientNet import it under any backend.
"""
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import cams
from tests.cams import keras_backends_worker as worker

KERAS_BACKENDS = ("jax", "torch")
EVERY = os.environ.get("CAMS_ALL_KERAS_BACKENDS") == "1"
TOLERANCE = 1e-4
# float16 kernels differ between frameworks: measured 1.4e-4 (Grad-CAM), 1.4e-3 (guided)
MIXED_TOLERANCE = 5e-3
# XGrad-CAM divides each channel's sum of G*A by its sum of A, which after a layer norm is near
# zero for some channels: float32 rounding is amplified there (measured 1.3e-4 under JAX)
LAYER_NORM_XGRADCAM = 5e-4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
apps = keras.applications


def images(shape, n, seed, low=-1.0, high=1.0):
    """n seeded smooth random images (n, H, W, C) in [low, high]: coarse blocks plus noise."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    coarse = np.kron(rng.uniform(size=(n, 4, 4, c)), np.ones((1, h // 4, w // 4, 1)))
    mixed = 0.7 * coarse + 0.3 * rng.uniform(size=(n, h, w, c))
    return (low + (high - low) * mixed).astype(np.float32)


def small_cnn():
    """Conv, batch norm (non-trivial moving statistics), a ReLU layer on a skip connection,
    dropout, a fused-softmax head of 5 classes; 32x32x3."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((32, 32, 3), name="image")
    a = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    a = keras.layers.BatchNormalization(name="bn")(a)
    b = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(a)
    b = keras.layers.ReLU(name="relu2")(b)
    x = keras.layers.Add(name="skip")([a, b])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    bn = model.get_layer("bn")
    rng = np.random.default_rng(12)
    bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.uniform(-0.2, 0.2, 8),
                    rng.uniform(-0.1, 0.1, 8), rng.uniform(0.5, 2.0, 8)])
    return model


def mixed_precision_cnn():
    """The small CNN under the mixed_float16 policy (float16 compute, float32 weights)."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return small_cnn()
    finally:
        keras.mixed_precision.set_global_policy(before)


def multilabel():
    """A CNN with 4 independent sigmoid labels (CheXNet-style head)."""
    keras.utils.set_random_seed(21)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(12, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="sigmoid", name="labels")(x)
    return keras.Model(inputs, outputs, name="multilabel")


def two_inputs():
    """An image and 3 clinical values, joined after pooling; a 3-class softmax head."""
    keras.utils.set_random_seed(31)
    image = keras.Input((32, 32, 3), name="image")
    clinical = keras.Input((3,), name="clinical")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(image)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, keras.layers.Dense(4, activation="relu")(clinical)])
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model([image, clinical], outputs, name="two_inputs")


def tied():
    """Outputs that tie exactly (1/3 each) over logits that do not (0, 0, 1e-9): the class
    explained is the lowest, as the outputs show it, on every backend."""
    keras.utils.set_random_seed(41)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="tied")
    model.get_layer("head").set_weights([np.zeros((4, 3), np.float32),
                                         np.array([0, 0, 1e-9], np.float32)])
    return model


def kerashub_classifier(family):
    """KerasHub's own ViT or DeiT image classifier (its own head reading the class token),
    seeded random weights, 32 px, patches of 8, two blocks."""
    import keras_hub

    models = keras_hub.models
    keras.utils.set_random_seed(0)
    small = dict(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
                 hidden_dim=32)
    if family == "vit":
        return models.ViTImageClassifier(
            backbone=models.ViTBackbone(**small, mlp_dim=64), num_classes=3, preprocessor=None)
    return models.DeiTImageClassifier(
        backbone=models.DeiTBackbone(**small, intermediate_dim=64), num_classes=3,
        preprocessor=None)


def application(build, size, nested, **kwargs):
    """A keras.applications model with seeded random weights and 4 classes: its own top
    (flat), or its base nested as one layer under a pooling + softmax head."""
    keras.utils.set_random_seed(0)
    shape = (size, size, 3)
    if not nested:
        return build(weights=None, input_shape=shape, classes=4, **kwargs)
    base = build(weights=None, include_top=False, input_shape=shape, **kwargs)
    inputs = keras.Input(shape)
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"transfer_{base.name}")


# name -> (builder, inner layer of the base or None, on by default)
APPLICATIONS = {
    "vgg16_flat": (lambda: application(apps.VGG16, 64, False), None, True),
    "mobilenetv2_nested": (lambda: application(apps.MobileNetV2, 64, True, alpha=0.35),
                           "block_13_expand_relu", True),
    "resnet50_flat": (lambda: application(apps.ResNet50, 64, False), None, False),
    "resnet50_nested": (lambda: application(apps.ResNet50, 64, True), "conv4_block6_out", False),
    "densenet121_flat": (lambda: application(apps.DenseNet121, 64, False), None, False),
    "densenet121_nested": (lambda: application(apps.DenseNet121, 64, True), "pool4_relu", False),
    "efficientnetb0_flat": (lambda: application(apps.EfficientNetB0, 64, False), None, False),
    "efficientnetb0_nested": (lambda: application(apps.EfficientNetB0, 64, True),
                              "block4a_expand_activation", False),
}
RUN_APPLICATIONS = [name for name, (_, _, quick) in APPLICATIONS.items() if quick or EVERY]
TRANSFORMERS = ("vit", "deit")


def method_jobs(model, x):
    """Every method on the small CNN at its default layer, for the predicted classes."""
    return [{"name": f"small_{m}", "model": model, "images": x,
             "explain": {"method": m, **({"top_k": 8} if m == "scorecam" else {})}}
            for m in cams.METHODS]


def usable_classes(path, x, layer):
    """Per image, the most probable class whose Grad-CAM (eager) is non-degenerate."""
    model = keras.saving.load_model(path, compile=False)
    res = cams.explain(model, x, layer=layer, class_index="all")
    chosen = []
    for i in range(len(x)):
        usable = [c for c in np.argsort(-res.outputs[i], kind="stable")
                  if not degenerate(res.heatmaps[i, c])]
        assert usable, f"{model.name}: every class's map of image {i} is degenerate"
        chosen.append(int(usable[0]))
    return chosen


def build_jobs(root):
    """Build and save every model (TensorFlow), and list the jobs every backend runs."""
    def save(model, name):
        path = os.path.join(root, name + ".keras")
        model.save(path)
        return path

    def save_images(array, name):
        path = os.path.join(root, name + ".npy")
        np.save(path, array)
        return path

    x32 = save_images(images((32, 32, 3), 3, seed=1), "x32")
    small = save(small_cnn(), "small")
    # copies: one is frozen, the other's weights change in memory
    frozen = shutil.copy(small, os.path.join(root, "small_frozen.keras"))
    reweighted = shutil.copy(small, os.path.join(root, "small_reweighted.keras"))
    jobs = method_jobs(small, x32) + [
        {"name": "small_probability", "model": small, "images": x32,
         "explain": {"score": "probability"}},
        {"name": "small_before_skip", "model": small, "images": x32,
         "explain": {"layer": "conv1", "method": "gradcam++"}},
        {"name": "small_frozen", "model": frozen, "frozen": True, "images": x32, "explain": {}},
        {"name": "small_frozen_guided", "model": frozen, "frozen": True, "images": x32,
         "explain": {"method": "guided-backprop"}},
        {"name": "small_batched", "model": small, "images": x32, "batch_size": 2,
         "explain": {"layer": "conv3", "method": "gradcam++"}},
        {"name": "small_reweighted", "model": reweighted, "images": x32,
         "reweight": True, "explain": {"layer": "conv3", "class_index": 1}},
    ]
    jobs.append({"name": "tie", "model": save(tied(), "tied"), "images": x32, "explain": {}})
    # cams.report's metrics, the randomization check's redrawn weights included
    jobs.append({"name": "small_report", "model": small,
                 "report": {"images": x32, "layer": "conv3", "methods": ["gradcam", "gradcam++"]}})
    labels = save(multilabel(), "multilabel")
    jobs.append({"name": "multilabel_all", "model": labels, "images": x32,
                 "explain": {"class_index": "all"}})
    for method in ("gradcam++", "guided-backprop"):
        jobs.append({"name": f"multilabel_all_{method}", "model": labels,
                     "images": x32, "explain": {"class_index": "all", "method": method}})
    mixed = save(mixed_precision_cnn(), "mixed_precision")
    for method in ("gradcam", "guided-backprop"):
        jobs.append({"name": f"mixed_{method}", "model": mixed, "images": x32,
                     "explain": {"method": method}})
    net = worker.subclassed()
    weights = os.path.join(root, "subclassed.npz")
    np.savez(weights, **{f"w{k}": w for k, w in enumerate(net.get_weights())})
    for method in ("gradcam", "guided-backprop", "layercam"):
        jobs.append({"name": f"subclassed_{method}", "model": f"subclassed:{weights}",
                     "images": x32, "explain": {"method": method}})
    clinical = save_images(np.random.default_rng(3).normal(size=(3, 3)).astype(np.float32),
                           "clinical")
    two = save(two_inputs(), "two_inputs")
    for method, options in (("gradcam", {}), ("scorecam", {"top_k": 4}),
                            ("guided-backprop", {})):
        jobs.append({"name": f"two_inputs_{method}", "model": two, "images": [x32, clinical],
                     "explain": {"method": method, **options}})
    # cams.audit of 24 phantoms with the small CNN: maps, interventions, score (not the report)
    from train import phantoms

    folder = os.path.join(root, "audit_set")
    phantoms.write_set(folder, 24, seed=3, size=32, progress=False)
    jobs.append({"name": "small_audit", "model": small,
                 "audit": {"data": folder, "preprocess": "mobilenetv2", "layer": "conv3",
                           "method": "gradcam"}})
    # KerasHub's transformer classifiers: every method at the default layer (the last block's
    # first layer norm, chosen by the dead-token probe that each Keras backend runs itself)
    if importlib.util.find_spec("keras_hub") is not None:
        for family in TRANSFORMERS:
            path = save(kerashub_classifier(family), f"kerashub_{family}")
            for method in ((*cams.METHODS, "attention-rollout") if family == "vit"
                           else ("gradcam", "attention-rollout")):
                jobs.append({"name": f"{family}_{method}", "model": path, "kerashub": True,
                             "images": x32, "explain": {
                                 "method": method, **({"top_k": 4} if method == "scorecam"
                                                      else {})}})
    x64 = images((64, 64, 3), 2, seed=7)
    x64_path = save_images(x64, "x64")
    for name in RUN_APPLICATIONS:
        build, inner, _ = APPLICATIONS[name]
        model = build()
        path = save(model, name)
        layers = [None] + ([f"{model.layers[1].name}/{inner}"] if inner else [])
        for layer in layers:
            jobs.append({"name": name + ("_inner" if layer else ""), "model": path,
                         "images": x64_path,
                         "explain": {"layer": layer,
                                     "class_index": usable_classes(path, x64, layer)}})
    return jobs


def in_subprocess(keras_backend, jobs, root):
    """Run the jobs in a process whose Keras runs on `keras_backend`; its results dir."""
    out = os.path.join(root, keras_backend)
    os.makedirs(out)
    spec = os.path.join(root, "jobs.json")
    with open(spec, "w") as f:
        json.dump(jobs, f)
    env = {**os.environ, "KERAS_BACKEND": keras_backend, "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    # TensorFlow is installed, but made unimportable there: the run must not need it. Not with
    # every application: Keras' own preprocessing layers (EfficientNet's Rescaling and
    # Normalization) ask TensorFlow whether they run in a tf graph under any Keras backend.
    code = ("import sys; sys.modules['tensorflow'] = None; " * (not EVERY)
            + "from tests.cams.keras_backends_worker import main; main(sys.argv[1:])")
    done = subprocess.run([sys.executable, "-c", code, spec, out],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{keras_backend} worker failed:\n{done.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{keras backend: results dir}, and the jobs; TensorFlow's computed in this process."""
    missing = [b for b in KERAS_BACKENDS if importlib.util.find_spec(b) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pip install .[jax] .[torch])")
    assert keras.backend.backend() == "tensorflow"
    root = str(tmp_path_factory.mktemp("keras_backends"))
    jobs = build_jobs(root)
    here = os.path.join(root, "tensorflow")
    os.makedirs(here)
    found = {"tensorflow": here}
    worker.run(jobs, here)
    for keras_backend in KERAS_BACKENDS:
        found[keras_backend] = in_subprocess(keras_backend, jobs, root)
    return found, {job["name"]: job for job in jobs}


def degenerate(heatmap):
    """True when a map (h, w) is not finite, does not reach 1, or is (nearly) constant."""
    return bool(not np.isfinite(heatmap).all() or heatmap.max() < 1 - 1e-6
                or heatmap.std() < 1e-3)


def load(runs, keras_backend, name):
    with np.load(os.path.join(runs[0][keras_backend], name + ".npz")) as saved:
        return dict(saved)


JOB_NAMES = ([f"small_{m}" for m in cams.METHODS]
             + ["small_probability", "small_before_skip", "small_batched", "small_frozen", "small_frozen_guided",
                "mixed_gradcam", "mixed_guided-backprop",
                "multilabel_all", "multilabel_all_gradcam++", "multilabel_all_guided-backprop",
                "subclassed_gradcam", "subclassed_guided-backprop", "subclassed_layercam",
                "two_inputs_gradcam", "two_inputs_scorecam", "two_inputs_guided-backprop"]
             + [n + s for n in RUN_APPLICATIONS for s in ("", "_inner")[:1 + bool(
                 APPLICATIONS[n][1])]]
             + (([f"vit_{m}" for m in cams.METHODS]
                 + ["vit_attention-rollout", "deit_gradcam", "deit_attention-rollout"])
                if importlib.util.find_spec("keras_hub") is not None else []))


def test_every_job_is_compared(runs):
    assert set(runs[1]) == set(JOB_NAMES) | {"small_reweighted", "small_audit", "tie",
                                             "small_report"}


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_kerashub_transformers_default_to_the_same_live_layer(runs, keras_backend):
    """The dead-token probe runs under each Keras backend (it ran under TensorFlow only, and
    JAX and PyTorch refused tokens): the same default, the last block's first layer norm."""
    if "vit_gradcam" not in runs[1]:
        pytest.skip("keras-hub is not installed")
    for family in TRANSFORMERS:
        want = str(load(runs, "tensorflow", f"{family}_gradcam")["layer"])
        assert want.endswith("transformer_block_2/ln_1"), want
        assert str(load(runs, keras_backend, f"{family}_gradcam")["layer"]) == want


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_the_report_agrees_with_tensorflow(runs, keras_backend):
    """cams.report's metrics under JAX and PyTorch within 1e-3 of TensorFlow's, the
    randomization check too: its weights are redrawn with NumPy, the same on every backend."""
    want, got = load(runs, "tensorflow", "small_report"), load(runs, keras_backend, "small_report")
    assert set(got) == set(want) and "gradcam.randomization_rho" in want
    for key in want:
        assert np.isfinite(want[key]) and abs(float(got[key]) - float(want[key])) <= 1e-3, key
    metrics = {k.split(".", 1)[1] for k in want}
    differ = [m for m in metrics if abs(want[f"gradcam.{m}"] - want[f"gradcam++.{m}"]) > 1e-3]
    assert len(differ) >= 3, differ            # the methods' numbers are not all the same


def test_a_short_last_batch_compiles_nothing_under_jax(runs):
    """3 images in batches of 2: the last batch is padded to 2, the shape already compiled."""
    got = load(runs, "jax", "small_batched")
    assert int(got["first_compilations"]) > 0      # the count sees compilations at all
    assert got["heatmaps"].shape[0] == 3 and int(got["compilations"]) == 0


@pytest.mark.parametrize("keras_backend", ("tensorflow",) + KERAS_BACKENDS)
def test_a_tie_explains_the_lowest_class(runs, keras_backend):
    got = load(runs, keras_backend, "tie")
    assert (got["outputs"] == got["outputs"][:, :1]).all()     # an exact tie
    np.testing.assert_array_equal(got["class_index"], 0)


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_the_audit_agrees_with_tensorflow(runs, keras_backend):
    """cams.audit under JAX and PyTorch: the same maps, probabilities, boxes and score."""
    want, got = load(runs, "tensorflow", "small_audit"), load(runs, keras_backend, "small_audit")
    # upsampled to the images' size, a map's peak may fall between pixels (max below 1)
    spread = want["maps"].std(axis=(1, 2))
    assert np.isfinite(want["maps"]).all() and (spread > 0.01).mean() >= 0.5, spread
    assert np.abs(got["maps"] - want["maps"]).max() <= TOLERANCE
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-5)
    assert len(want["boxes"]) > 0                              # candidates were intervened on
    np.testing.assert_array_equal(got["boxes"], want["boxes"])
    assert float(got["score"]) == pytest.approx(float(want["score"]), abs=1e-6)


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
@pytest.mark.parametrize("name", JOB_NAMES)
def test_maps_agree_with_tensorflow(runs, keras_backend, name):
    want, got = load(runs, "tensorflow", name), load(runs, keras_backend, name)
    np.testing.assert_array_equal(got["class_index"], want["class_index"])
    np.testing.assert_allclose(got["outputs"], want["outputs"], rtol=1e-4,
                               atol=1e-3 if name.startswith("mixed_") else 1e-6)
    maps = want["heatmaps"].reshape((-1,) + want["heatmaps"].shape[-2:])
    bad = [k for k, m in enumerate(maps) if degenerate(m)]
    assert not bad, f"{name}: maps {bad} are degenerate, agreement would mean nothing"
    tolerance = (MIXED_TOLERANCE if name.startswith("mixed_")
                 else LAYER_NORM_XGRADCAM if name == "vit_xgradcam" else TOLERANCE)
    assert got["heatmaps"].shape == want["heatmaps"].shape
    assert np.abs(got["heatmaps"] - want["heatmaps"]).max() <= tolerance
    if "attributions" in want:
        scale = np.abs(want["attributions"]).max()
        assert scale > 0
        assert np.abs(got["attributions"] - want["attributions"]).max() <= tolerance * scale


@pytest.mark.parametrize("keras_backend", ("tensorflow",) + KERAS_BACKENDS)
def test_changed_weights_are_seen(runs, keras_backend):
    maps = load(runs, keras_backend, "small_reweighted")
    assert np.abs(maps["after"] - maps["before"]).max() > 0.1
    np.testing.assert_allclose(maps["after"], maps["fresh"], atol=1e-5)
    reference = load(runs, "tensorflow", "small_reweighted")
    for key in ("before", "after"):
        assert not any(degenerate(m) for m in maps[key])
        assert np.abs(maps[key] - reference[key]).max() <= TOLERANCE


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_each_process_keeps_its_backend_and_runs_without_tensorflow(runs, keras_backend):
    with open(os.path.join(runs[0][keras_backend], "info.json")) as f:
        info = json.load(f)
    assert info["keras_backend"] == keras_backend and info["backends"] == [keras_backend]
    assert EVERY or info["tensorflow"] == "blocked"


def test_a_backend_of_another_keras_backend_says_how_to_get_it():
    x = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match=r"backend 'jax' runs where Keras runs on jax; this "
                                         r"process runs Keras on tensorflow .*KERAS_BACKEND=jax"):
        cams.explain(small_cnn(), x, backend="jax")


@pytest.mark.parametrize("library, extra", [("jax", "jax"), ("torch", "torch")])
def test_a_missing_library_names_its_extra(monkeypatch, library, extra):
    from cams import backends

    monkeypatch.setitem(sys.modules, library, None)  # importing it now fails
    monkeypatch.delitem(sys.modules, f"cams.backends.{library}", raising=False)
    with pytest.raises(ImportError, match=rf"needs .*not installed: pip install \.\[{extra}\]"):
        backends.backend_class(library)


def test_import_cams_imports_neither_jax_nor_torch():
    code = ("import sys, cams; "
            "print(sorted(m for m in ('jax', 'torch', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_only_the_jax_and_torch_backends_import_their_library_at_module_level():
    """Keras itself may import JAX under TensorFlow; cams imports it only where it is used."""
    package = os.path.join(ROOT, "cams")
    found = set()
    for folder, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in tree.body:  # module level only; a function may import lazily
                    names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                             [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                    if any(n.split(".")[0] in ("jax", "torch") for n in names):
                        found.add(os.path.relpath(path, package))
    assert found == {os.path.join("backends", "jax.py"), os.path.join("backends", "torch.py")}


def test_check_compares_every_keras_backend_in_one_table(runs, capsys):
    from cams import check

    model = runs[1]["small_gradcam"]["model"]
    assert check.main(["--model", model, "--max-images", "1", "--methods", "gradcam",
                       "--keras-backends", "tensorflow,jax,torch"]) == 0
    out = capsys.readouterr().out
    assert "Keras backends: tensorflow, jax, torch (one process each)" in out
    for backend in ("eager", "graph", "tf-keras-vis", "jax", "torch"):
        assert f"| gradcam | {backend} |" in out
    assert "PASS" in out and "FAIL" not in out


def test_check_refuses_an_unknown_keras_backend(capsys):
    from cams import check

    with pytest.raises(SystemExit):
        check.main(["--model", "m.keras", "--keras-backends", "tensorflow,mxnet"])
    assert "unknown Keras backend(s) mxnet; choose from tensorflow, jax, torch" in (
        capsys.readouterr().err)
