"""Class-activation maps for Keras: one API, three interchangeable backends that agree
numerically, ten methods (cams.METHODS) and metrics that say whether a map can be trusted
(cams.metrics).

    import cams
    res = cams.explain(model, images)            # images: (N, H, W, C), preprocessed
    res.heatmaps                                 # (N, h, w) in [0, 1]
    cams.overlay(original_image, res.heatmaps[0])
    cams.explain(model, images, method="scorecam", top_k=32)
"""
from cams.backends import BACKENDS
from cams.cache import forget
from cams.explain import METHODS, Explanation, explain
from cams.layers import conv_layers, flat_model
from cams.overlay import colorize, overlay
from cams.scores import SCORES

__all__ = ["BACKENDS", "METHODS", "SCORES", "Explanation", "explain", "conv_layers",
           "flat_model", "overlay", "colorize", "forget"]
