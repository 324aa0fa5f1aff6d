"""Class-activation maps for Keras: one API over interchangeable backends that agree
numerically (under TensorFlow: eager tf.GradientTape, the TF1 graph recipe and tf-keras-vis;
under Keras on JAX and on PyTorch, their own; cams.BACKENDS lists the running one's), eighteen
methods (cams.METHODS), metrics that say whether a map can be trusted (cams.metrics), whole
datasets (cams.dataset) and the shortcut audit (cams.audit).

    import cams
    res = cams.explain(model, images)            # images: (N, H, W, C), preprocessed
    res.heatmaps                                 # (N, h, w) in [0, 1]
    cams.overlay(original_image, res.heatmaps[0])
    cams.explain(model, images, method="scorecam", top_k=32)
    cams.explain_batches(model, dataset)         # any iterable of batches, or a tf.data.Dataset

`import cams` is light: TensorFlow and Keras load when a name below is first used, and the
tf-keras-vis backend's library only when that backend is.
"""
import importlib

__version__ = "0.3.0"

# public name -> (module, attribute)
_PUBLIC = {
    "explain": ("cams.explanation", "explain"),
    "explain_batches": ("cams.dataset.iterable", "explain_batches"),
    "Explanation": ("cams.explanation", "Explanation"),
    "describe": ("cams.explanation", "describe"),
    "ModelInfo": ("cams.explanation", "ModelInfo"),
    "METHODS": ("cams.methods", "METHODS"),
    "TRANSFORMER_METHODS": ("cams.methods", "TRANSFORMER_METHODS"),
    "BACKENDS": ("cams.backends", "BACKENDS"),
    "CONVENTIONS": ("cams.backends", "CONVENTIONS"),
    "conventions": ("cams.backends", "conventions"),
    "SCORES": ("cams.model.scores", "SCORES"),
    "resolve_layer": ("cams.model.layers", "resolve"),
    "conv_layers": ("cams.model.layers", "conv_layers"),
    "leaves": ("cams.model.layers", "leaves"),
    "flat_model": ("cams.model.layers", "flat_model"),
    "overlay": ("cams.io.overlays", "overlay"),
    "colorize": ("cams.io.overlays", "colorize"),
    "upsample": ("cams.methods.resize", "upsample"),
    "forget": ("cams.cache", "forget"),
    "TokenGrid": ("cams.model.tokens", "TokenGrid"),
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name == "audit":  # the shortcut audit: a package that is also called, cams.audit(...)
        return importlib.import_module("cams.audit")
    if name not in _PUBLIC:
        raise AttributeError(f"module 'cams' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | {"audit"})
