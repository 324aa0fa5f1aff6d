"""The package's shape: dependencies point one way, `import cams` stays light, and an entry
point's --help answers without loading TensorFlow."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _loaded_after(code):
    """The top-level module names loaded by a fresh interpreter running `code`."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return {name.split(".")[0] for name in out.stdout.split()}


def test_import_cams_loads_no_framework_and_no_client():
    loaded = _loaded_after("import cams")
    assert not loaded & {"tensorflow", "keras", "tf_keras_vis", "gradio", "pydicom", "train",
                         "reference", "demo"}


def test_the_library_in_use_never_imports_its_clients():
    """Explaining a model, every metric and the tf-keras-vis backend: still nothing of train,
    reference, the demo or Gradio, and tf-keras-vis only once its backend is used."""
    code = """
import numpy as np, keras, cams, cams.metrics, cams.io.modelcard, cams.io.images, cams.io.preprocessing
import sys
inputs = keras.Input((16, 16, 3))
x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
x = keras.layers.GlobalAveragePooling2D()(x)
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
images = np.random.default_rng(0).normal(size=(1, 16, 16, 3))
for backend in ("eager", "graph"):
    cams.explain(model, images, backend=backend)
assert "tf_keras_vis" not in sys.modules
cams.explain(model, images, backend="tf-keras-vis")
"""
    loaded = _loaded_after(code)
    assert "tf_keras_vis" in loaded  # the backend ran
    assert not loaded & {"train", "reference", "demo", "gradio"}


def test_import_cams_leaves_warning_filters_alone():
    code = """
import warnings
import numpy as np, keras, cams
# Libraries add their own filters on import (scipy.special does): load them first, so that
# only what cams itself does is measured.
import tf_keras_vis.scorecam, tf_keras_vis.gradcam, scipy.special
inputs = keras.Input((16, 16, 3))
x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
x = keras.layers.GlobalAveragePooling2D()(x)
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
images = np.random.default_rng(0).normal(size=(1, 16, 16, 3))
after_import = list(warnings.filters)
cams.explain(model, images, method="scorecam", score="probability", backend="tf-keras-vis",
             upsampling="align-corners")
added = [f for f in warnings.filters if f not in after_import]
assert not added, added
"""
    _loaded_after(code)


@pytest.mark.parametrize("command", [
    ["demo.py"], ["-m", "train"], ["-m", "train.evaluate"], ["-m", "train.phantoms"],
    ["-m", "cams.report"], ["-m", "cams.bench"], ["-m", "cams.check"], ["-m", "cams.audit"],
    ["-m", "train.audit_benchmark"], ["-m", "train.radiographs"]])
def test_help_answers_without_loading_tensorflow(command):
    code = (f"import runpy, sys\nsys.argv = {[command[-1], '--help']!r}\n"
            "try:\n"
            + (f"    runpy.run_path({command[0]!r}, run_name='__main__')\n" if len(command) == 1
               else f"    runpy.run_module({command[1]!r}, run_name='__main__', alter_sys=True)\n")
            + "except SystemExit:\n    pass")
    loaded = _loaded_after(code)
    assert not loaded & {"tensorflow", "keras", "gradio"}, command


def test_every_public_name_is_what_it_says_once_every_module_is_loaded():
    """A submodule named like a public function would shadow it once imported."""
    code = """
import importlib, pkgutil, types, cams
for module in pkgutil.walk_packages(cams.__path__, "cams."):
    if not module.name.startswith("cams.app"):
        importlib.import_module(module.name)
bad = [n for n in cams.__all__ if isinstance(getattr(cams, n), types.ModuleType)]
assert not bad, bad
"""
    _loaded_after(code)


@pytest.mark.parametrize("tool", ["cams.dataset", "cams.audit", "cams.report", "cams.check"])
def test_the_tools_run_from_any_folder(tmp_path, tool):
    """README's set-up installs the package (pip install -e .): a tool then answers from a
    folder other than the checkout, with nothing on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", tool, "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]
