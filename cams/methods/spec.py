"""What a CAM method declares: its math's entry point, its options with their checks, and the
backend primitive it needs. Every module of cams.methods that defines METHOD is registered.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# The primitives a backend built on cams' math offers (cams.backends.backend.PrimitiveBackend).
PRIMITIVES = ("gradients", "forward", "guided_gradients", "class_scores", "attention",
              "ablated_scores", "second_order", "bias_gradients", "other_layers")


@dataclass(frozen=True)
class Maps:
    """What a method returns before scaling.

    With several classes per image every array but `outputs` gains an axis L after N.

    Attributes:
        cam (numpy.ndarray): (N, h, w) at the layer, or (N, H, W) at the input.
        outputs (numpy.ndarray): the model's outputs (N, C).
        classes (numpy.ndarray): the explained class of each image (N,), or (N, L).
        attributions (numpy.ndarray | None): (N, H, W, C) for the guided methods.
    """
    cam: np.ndarray
    outputs: np.ndarray
    classes: np.ndarray
    attributions: np.ndarray | None = None


@dataclass(frozen=True)
class Option:
    """One option of a method: its default and a check that raises on a bad value."""
    default: object
    check: Callable[[str, object], None]
    help: str = ""


@dataclass(frozen=True)
class Method:
    """A CAM method: `run(backend, x, classes, **options) -> Maps`.

    A module of cams.methods that defines `METHOD = Method(...)` is registered; `run` calls
    only the backend primitives named in `needs`, so every backend that offers them computes
    the method.

    Attributes:
        name (str): what cams.explain(method=) takes.
        order (int): its place in cams.METHODS (menus list methods this way).
        run (Callable): run(backend, x, classes, **options) -> Maps.
        summary (str): one line for menus and docs.
        needs (tuple): the backend primitives run() calls, from PRIMITIVES.
        options (dict): option name -> Option (default and check).
        score (str): what the paper scores, "logit" or "probability".
        at_input (bool): the map is at the input's resolution, not the layer's.
        class_specific (bool): False when the map is the same for every class.
        run_all (Callable | None): run_all(backend, x, classes (N, L), **options) -> Maps with
            cam (N, L, h, w) from one pass; None runs once per class.
        transformers_only (bool): listed in TRANSFORMER_METHODS, not in METHODS.
    """
    name: str
    order: int
    run: Callable
    summary: str
    needs: tuple
    options: dict = field(default_factory=dict)
    score: str = "logit"
    at_input: bool = False
    class_specific: bool = True
    run_all: Callable | None = None
    transformers_only: bool = False

    @property
    def defaults(self):
        """{option: default value}."""
        return {name: option.default for name, option in self.options.items()}

    def check_options(self, options):
        """The options with defaults filled in; ValueError/TypeError for unknown or bad ones."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise ValueError(f"method {self.name!r} does not take "
                             f"{', '.join(map(repr, unknown))}; it takes: {takes}")
        merged = {**self.defaults, **options}
        for name, option in self.options.items():
            option.check(name, merged[name])
        return merged


def from_gradients(formula):
    """run() for a method whose map is formula(A, G, **options) of the layer's A and dS/dA."""
    def run(backend, x, classes, **options):
        A, G, outputs, chosen = backend.gradients(x, classes)
        return Maps(formula(A, G, **options), outputs, chosen)
    return run


def all_from_gradients(formula):
    """run_all() for such a method: every class's map of each image from one forward pass and
    the gradients of all L scores, G (N, L, h, w, K)."""
    def run_all(backend, x, classes, **options):
        A, G, outputs, chosen = backend.gradients_all(x, classes)
        n, n_classes = chosen.shape
        A_each = np.repeat(np.asarray(A)[:, None], n_classes, axis=1).reshape(
            (n * n_classes,) + A.shape[1:])
        cam = formula(A_each, np.asarray(G).reshape(A_each.shape), **options)
        return Maps(cam.reshape((n, n_classes) + cam.shape[1:]), outputs, chosen)
    return run_all


def gradient_method(name, order, formula, summary, run_all=None, **fields):
    """A Method whose map is formula(A, G, **options), for one class or all at once (run_all,
    where the method computes every class its own way)."""
    return Method(name, order, from_gradients(formula), summary, needs=("gradients",),
                  run_all=run_all or all_from_gradients(formula), **fields)


def boolean(name, value):
    """Option check: True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")


def positive_int(name, value, allow_none=False):
    """Option check: an int >= 1 (or None where allow_none)."""
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if allow_none else ''}; "
                         f"got {value!r}")


def non_negative_float(name, value):
    """Option check: a real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")


def positive_int_or_none(name, value):
    """Option check: None or an int >= 1."""
    positive_int(name, value, allow_none=True)


def one_of(*choices):
    """Option check: one of `choices`."""
    def check(name, value):
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return check
