"""The backend interface: what every backend (eager, graph, tf-keras-vis) implements.

A backend is built once per (model, target layer, score) and cached with the model; `cam` turns
a checked batch into a method's unscaled maps. Backends built on cams' own math implement the
primitives of PrimitiveBackend and let each method's `run` combine them.
"""
import abc
import weakref

import numpy as np

from cams.forward import count
from cams.methods import ALL_METHODS, Maps


class Backend(abc.ABC):
    """Computes CAMs of one model at one target layer, for one score ("logit"/"probability")."""

    name = None  # the name cams.explain(backend=...) takes
    # compiled once per batch shape (JAX): a short last batch is padded to the full size, so
    # that a run compiles once; the others take any batch size and are not given padding
    fixed_shapes = False

    @abc.abstractmethod
    def __init__(self, model, target, info, score):
        """model: the caller's Keras model (never modified); target: the layers.Leaf to explain;
        info: the model's ModelInfo (info.head, info.inputs); score: "logit" or "probability"."""

    @abc.abstractmethod
    def cam(self, x, classes, method, options, extras=()):
        """methods.Maps of `method` with checked `options` on float32 x (N, H, W, C);
        classes (N,) int32, -1 meaning the predicted class, or (N, L) for L maps per image;
        extras: the model's other inputs (each (N, ...)), in its input order."""


def each_class(cam_of_one, x, classes):
    """Maps of classes (N, L) computed one class column at a time with cam_of_one(x, column)."""
    parts = [cam_of_one(x, np.ascontiguousarray(classes[:, j])) for j in range(classes.shape[1])]
    attributions = (None if parts[0].attributions is None
                    else np.stack([p.attributions for p in parts], axis=1))
    return Maps(np.stack([p.cam for p in parts], axis=1), parts[0].outputs, classes,
                attributions)


def concatenate(parts):
    """Maps of consecutive batches joined into one."""
    attributions = (None if parts[0].attributions is None
                    else np.concatenate([p.attributions for p in parts]))
    return Maps(*(np.concatenate([getattr(p, k) for p in parts])
                  for k in ("cam", "outputs", "classes")), attributions)


class PrimitiveBackend(Backend):
    """A backend offering cams' primitives; each method's math (cams.methods) makes the map.
    Each primitive takes the model's other inputs as `extras` (each (N, ...)), if it has any."""

    @abc.abstractmethod
    def gradients(self, x, classes, extras=()):
        """(A, G = dS/dA, outputs, classes) as NumPy arrays, classes -1 resolved."""

    @abc.abstractmethod
    def forward(self, x, classes, extras=()):
        """(A, outputs, classes) without gradients."""

    @abc.abstractmethod
    def guided_gradients(self, x, classes, extras=()):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""

    @abc.abstractmethod
    def class_scores(self, x, classes, extras=()):
        """The score (N,) of each image for its class."""

    @abc.abstractmethod
    def ablated_scores(self, x, classes, keep, extras=()):
        """The score (N,) of each image for its class, the target layer's channels of image n
        multiplied by keep[n] (N, K) on their way on through the model."""

    @abc.abstractmethod
    def second_order(self, x, classes, extras=()):
        """(A, G, H A, outputs, classes), H the Hessian of S with respect to A."""

    @abc.abstractmethod
    def bias_gradients(self, x, classes, extras=()):
        """(dS/dx (N, H, W, C), outs, grads, outputs, classes): the output of each of
        tapped.biased_leaves(model) and dS/d(that output), two lists in that order."""

    def biases(self):
        """[(path, bias (K,), activation name)] of tapped.biased_leaves(model), the biases read
        from the current weights (FullGrad's)."""
        from cams.backends.tapped import bias_of, biased_leaves

        model = self._model()
        return [(leaf.path, bias_of(leaf.layer),
                 getattr(getattr(leaf.layer, "activation", None), "__name__", "linear"))
                for leaf in biased_leaves(model)]

    def attention(self, x, classes, extras=()):
        """(queries, keys: lists, one (N, T, heads, dk) per attention layer of the model, the
        projections its probabilities are computed from; outputs, classes). Backends that
        cannot tap them leave this refusal."""
        raise ValueError(f"backend {self.name!r} does not tap attention layers; backends "
                         "eager, graph, jax and torch compute attention rollout")

    @property
    def grid(self):
        """The tokens.TokenGrid of the target layer's tokens, or None for a feature map."""
        return self._target.grid

    def at(self, leaf):
        """This backend, for the same model and score, at another layer (a layers.Leaf)."""
        from cams import backends

        return backends.engine(self._model(), leaf, self._info, self.name, self._score)

    def layer(self, name):
        """The layers.Leaf that `name` (a path or a unique bare name) names in the model."""
        from cams.model import layers

        return layers.resolve(self._model(), name, self._inputs.image)

    def live_layers(self):
        """The layers.Leafs a CAM can be computed at, in the model's order."""
        from cams.model import layers

        return layers.live_layers(self._model(), self._inputs.image)

    def gradients_all(self, x, classes, extras=()):
        """(A, G (N, L, h, w, K), outputs, classes) for classes (N, L): the gradient of each of
        the L scores; here one backward pass per class, backends may do it in one."""
        found = [self.gradients(x, np.ascontiguousarray(classes[:, j]), extras)
                 for j in range(classes.shape[1])]
        return found[0][0], np.stack([f[1] for f in found], axis=1), found[0][2], classes

    def pooled_gradients_all(self, x, classes, extras=()):
        """(A, the spatial mean of each class's dS/dA (N, L, K) in float64, outputs, classes)
        for classes (N, L); backends may average before the gradients leave them."""
        A, G, outputs, classes = self.gradients_all(x, classes, extras)
        return A, np.mean(G, axis=(2, 3), dtype=np.float64), outputs, classes

    def cam(self, x, classes, method, options, extras=()):
        spec = ALL_METHODS[method]
        if not extras or not _ONE_IMAGE_COPIES & set(spec.needs):  # each sees the batch
            return _run(spec, _Bound(self, extras), x, classes, options)
        # Score-CAM and Ablation-CAM score a batch of altered copies of one image: one image
        # at a time, so that each copy gets that image's other inputs, repeated.
        return concatenate([
            _run(spec, _Bound(self, [e[i:i + 1] for e in extras]),
                 x[i:i + 1], classes[i:i + 1], options) for i in range(len(x))])


_ONE_IMAGE_COPIES = {"class_scores", "ablated_scores"}


class ModelBackend(PrimitiveBackend):
    """A PrimitiveBackend on the live model, which it keeps weakly (the per-model cache holds
    the backend and must not pin the model), with the target, head, score and inputs."""

    def __init__(self, model, target, info, score):
        self._model = weakref.ref(model)
        self._target, self._head, self._score = target, info.head, score
        self._inputs, self._info = info.inputs, info


def on_grid(grid, *arrays):
    """Layer outputs or their gradients (..., T, D) as patch maps (..., h, w, D) when the target
    outputs transformer tokens laid on `grid` (tokens.TokenGrid); unchanged for a feature map."""
    from cams.model import tokens

    return tuple(tokens.to_grid(np.asarray(a), grid) for a in arrays)


class CompiledBackend(ModelBackend):
    """A ModelBackend whose primitives are compiled functions, each run by
    `_call(name, x, classes, extras)` -> NumPy arrays: "gradients", "forward", "all" (every
    class's gradients), "guided", "scores"."""

    @abc.abstractmethod
    def _call(self, name, x, classes, extras):
        """The compiled function `name` on one batch, its results as NumPy arrays."""

    def gradients(self, x, classes, extras=()):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        return self._call("gradients", x, classes, extras)

    def forward(self, x, classes, extras=()):
        """(A, outputs, classes) without gradients."""
        return self._call("forward", x, classes, extras)

    def gradients_all(self, x, classes, extras=()):
        """(A, G (N, L, h, w, K), outputs, classes) for classes (N, L), from one forward pass."""
        return self._call("all", x, classes, extras)

    def guided_gradients(self, x, classes, extras=()):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""
        return self._call("guided", x, classes, extras)

    def class_scores(self, x, classes, extras=()):
        """The score of each image for its class (N,)."""
        return self._call("scores", x, classes, extras)

    def second_order(self, x, classes, extras=()):
        """(A, G, H A, outputs, classes): dS/dA and the Hessian of S with respect to A applied
        to A itself, sum_j d2S/dA_i dA_j A_j (Shapley-CAM's second-order term)."""
        return self._call("second", x, classes, extras)

    def bias_gradients(self, x, classes, extras=()):
        """(dS/dx, outs, grads, outputs, classes) of tapped.biased_leaves, in that order."""
        return self._call("bias", x, classes, extras)


def _run(spec, backend, x, classes, options):
    if classes.ndim == 1:
        return spec.run(backend, x, classes, **options)
    if spec.run_all is not None:
        return spec.run_all(backend, x, classes, **options)
    return each_class(lambda xs, c: spec.run(backend, xs, c, **options), x, classes)


class _Bound:
    """A backend's primitives as the methods call them: the model's other inputs bound (one row
    per image of the batch, or a single row, one image's, repeated to each batch's size), and
    every image a call runs through the model counted (cams.forward.count)."""

    def __init__(self, backend, extras=()):
        self._backend, self._extras = backend, extras

    def _repeated(self, n):
        return tuple(e if len(e) == n else np.repeat(e, n, axis=0) for e in self._extras)

    def _call(self, kind, primitive, x, classes):
        count(kind, len(x))
        return getattr(self._backend, primitive)(x, classes, self._repeated(len(x)))

    @property
    def grid(self):
        return self._backend.grid

    @property
    def head(self):
        """The model's scores.Head (what its outputs are)."""
        return self._backend._head

    @property
    def score(self):
        """What the gradients differentiate: "logit" or "probability"."""
        return self._backend._score

    def gradients(self, x, classes):
        return self._call("gradient", "gradients", x, classes)

    def gradients_all(self, x, classes):
        return self._call("gradient", "gradients_all", x, classes)

    def pooled_gradients_all(self, x, classes):
        return self._call("gradient", "pooled_gradients_all", x, classes)

    def guided_gradients(self, x, classes):
        return self._call("gradient", "guided_gradients", x, classes)

    def forward(self, x, classes):
        return self._call("forward", "forward", x, classes)

    def class_scores(self, x, classes):
        return self._call("forward", "class_scores", x, classes)

    def ablated_scores(self, x, classes, keep):
        count("forward", len(x))
        return self._backend.ablated_scores(x, classes, keep, self._repeated(len(x)))

    def second_order(self, x, classes):
        return self._call("gradient", "second_order", x, classes)

    def bias_gradients(self, x, classes):
        return self._call("gradient", "bias_gradients", x, classes)

    def biases(self):
        return self._backend.biases()

    @property
    def target(self):
        """The layers.Leaf this backend explains at."""
        return self._backend._target

    def at(self, leaf):
        """The same primitives, the same other inputs, at another layer (a layers.Leaf)."""
        return _Bound(self._backend.at(leaf), self._extras)

    def layer(self, name):
        return self._backend.layer(name)

    def live_layers(self):
        return self._backend.live_layers()

    def attention(self, x, classes):
        return self._call("forward", "attention", x, classes)
