"""The interchangeable backends, by name, each imported only when first used (the tf-keras-vis
one imports tf-keras-vis, an optional dependency).

CONVENTIONS says, per backend, the method options it computes with where the papers leave a
choice; a backend not listed computes every method with any options.
"""
import importlib
from types import MappingProxyType

_WHERE = {"eager": "cams.backends.eager:EagerBackend",
          "graph": "cams.backends.graph:GraphBackend",
          "tf-keras-vis": "cams.backends.tfkv:TfKerasVisBackend"}
BACKENDS = tuple(_WHERE)

CONVENTIONS = MappingProxyType({"tf-keras-vis": MappingProxyType({
    "gradcam": {}, "gradcam++": {"normalize_alphas": True}, "layercam": {},
    "scorecam": {"upsampling": "align-corners"}})})


def backend_class(name):
    """The Backend subclass called `name` (one of BACKENDS), imported on first use."""
    module, cls = _WHERE[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] == "tf_keras_vis":
            raise ImportError(f"backend {name!r} needs tf-keras-vis: pip install tf-keras-vis "
                              "(or the package's [tfkv] extra)") from None
        raise


def conventions(backend):
    """{method: options} for the methods `backend` computes with fixed options, or None when
    it computes every method with any options."""
    table = CONVENTIONS.get(backend)
    return None if table is None else {m: dict(o) for m, o in table.items()}
