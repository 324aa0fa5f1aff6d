"""The interchangeable backends, by name, each imported only when first used (the tf-keras-vis
one imports tf-keras-vis, the jax and torch ones their library: optional dependencies).

Which backends a process can use depends on the backend Keras runs on (KERAS_BACKEND, fixed
when keras is first imported): eager, graph and tf-keras-vis under TensorFlow, jax under JAX,
torch under PyTorch. BACKENDS lists this process's; DEFAULT is the one cams.explain uses.

CONVENTIONS says, per backend, the method options it computes with where the papers leave a
choice; a backend not listed computes every method with any options.
"""
import importlib
import json
import os
import sys
from types import MappingProxyType

_WHERE = {"eager": "cams.backends.eager:EagerBackend",
          "graph": "cams.backends.graph:GraphBackend",
          "tf-keras-vis": "cams.backends.tfkv:TfKerasVisBackend",
          "jax": "cams.backends.jax:JaxBackend",
          "torch": "cams.backends.torch:TorchBackend"}
# Keras backend -> the cams backends that run on it, the default first
BY_KERAS_BACKEND = MappingProxyType({"tensorflow": ("eager", "graph", "tf-keras-vis"),
                                     "jax": ("jax",), "torch": ("torch",)})
# what to install for each optional library a backend needs
_EXTRAS = {"tf_keras_vis": ("tf-keras-vis", "tfkv"), "jax": ("JAX", "jax"),
           "torch": ("PyTorch", "torch")}


def keras_backend():
    """The backend Keras runs on in this process: "tensorflow", "jax" or "torch". Before keras
    is imported, the one it will choose, as it does (KERAS_BACKEND, else keras.json's
    "backend", else tensorflow), so that listing BACKENDS loads no framework."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    folder = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(folder, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def _running():
    name = keras_backend()
    if name not in BY_KERAS_BACKEND:
        raise ImportError(f"cams explains models under Keras' tensorflow, jax or torch backend; "
                          f"this process runs Keras on {name!r}")
    return BY_KERAS_BACKEND[name]


BACKENDS = _running()
DEFAULT = BACKENDS[0]

CONVENTIONS = MappingProxyType({"tf-keras-vis": MappingProxyType({
    "gradcam": {}, "gradcam++": {"normalize_alphas": True, "epsilon": 0.0}, "layercam": {},
    "scorecam": {"upsampling": "align-corners"}})})


def check(name):
    """`name` if this process can use that backend; else ValueError saying which it can use and,
    for a backend of another Keras backend, how to run it."""
    if name in BACKENDS:
        return name
    allowed = ", ".join(BACKENDS)
    for keras_name, names in BY_KERAS_BACKEND.items():
        if name in names:
            raise ValueError(
                f"backend {name!r} runs where Keras runs on {keras_name}; this process runs "
                f"Keras on {keras_backend()} (backends: {allowed}). Set "
                f"KERAS_BACKEND={keras_name} before keras is first imported to use it.")
    raise ValueError(f"unknown backend {name!r}; choose one of: {allowed}")


def backend_class(name):
    """The Backend subclass called `name` (one of BACKENDS), imported on first use."""
    module, cls = _WHERE[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as err:
        root = (err.name or "").split(".")[0]
        if root in _EXTRAS:
            library, extra = _EXTRAS[root]
            raise ImportError(f"backend {name!r} needs {library}, which is not installed: "
                              f"pip install .[{extra}]") from None
        raise


def engine(model, target, info, name, score):
    """Backend `name` explaining `target` (a layers.Leaf) of `model` for `score`, built once per
    model, layer, score and input and cached with the model."""
    from cams import cache

    return cache.cached(model, (name, target.path, score, info.inputs.image, target.grid),
                        lambda: backend_class(name)(model, target, info, score))


def conventions(backend):
    """{method: options} for the methods `backend` computes with fixed options, or None when
    it computes every method with any options."""
    table = CONVENTIONS.get(backend)
    return None if table is None else {m: dict(o) for m, o in table.items()}
