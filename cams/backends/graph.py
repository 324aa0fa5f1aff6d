"""Graph backend: Chollet's K.gradients recipe, made safe for a process that stays eager.

The model is rebuilt in a private tf.Graph from a placeholder input, with graph variables that
hold a copy of the live weights; gradients come from tf.compat.v1.gradients (what K.gradients
calls) and run in the graph's own tf.compat.v1.Session. Eager execution is never switched off.
Constants that layers hold as eager tensors (Normalization's mean and variance in EfficientNet,
EfficientNetV2, ConvNeXt) enter the graph by value, as they enter a tf.function.
"""
import contextlib
import threading
import weakref

import keras
import tensorflow as tf

from cams import cache
from cams.model import tokens
from cams.backends.backend import PrimitiveBackend
from cams.backends.eager import positive_gradient
from cams.backends.tf_moments import exact_moments
from cams.backends.tapped import (attention_taps, biased_leaves, channels_scaled, class_score,
                                  queries_and_keys, recording, tapped_forward, target_score)


class GraphBackend(PrimitiveBackend):
    """Computes A, dS/dA, guided input gradients and class scores in a TF1 graph and session."""

    name = "graph"

    def __init__(self, model, target, info, score):
        head = info.head
        self._live = _unique(model.variables)
        self._watch = cache.WeightsWatch(self._live)
        # A weak reference: the per-model cache holds this object, and must not pin the model;
        # the guided graph is built later, on first use.
        self._model = weakref.ref(model)
        self._target, self._head, self._score = target, head, score
        self._inputs, self._info = info.inputs, info
        self.graph = _PrivateGraph()
        with self.graph.as_default():
            self._x = tf.compat.v1.placeholder(tf.float32, (None,) + info.input_shape[1:],
                                               name="images")
            self._classes = tf.compat.v1.placeholder(tf.int32, (None,), name="classes")
            self._extras = [tf.compat.v1.placeholder(info.inputs.dtypes[k],
                                                     (None,) + info.inputs.shapes[k][1:])
                            for k in info.inputs.others]
            self._loaders, self._graph_vars = [], {}
            for v in self._live:
                feed = tf.compat.v1.placeholder(v.dtype, v.shape)
                copy = tf.Variable(feed, trainable=False)
                self._loaders.append((copy.initializer, feed, v))
                self._graph_vars[id(v)] = copy
            try:
                A, logits, outputs = self._build()
            except Exception as err:  # a layer written for eager or tf.function tensors only
                raise ValueError(
                    f"the graph backend cannot rebuild {model.name!r} in a TF1 graph: "
                    f"{type(err).__name__}: {err} (KerasHub's Swin, for one, compares tensors "
                    "with Python's != to make its shifted-window mask, which a TF1 graph "
                    "reads as object identity); backend 'eager' explains it") from err
            S, chosen = target_score(logits, outputs, self._classes, head, score)
            G = tf.compat.v1.gradients(tf.reduce_sum(S), A)[0]
            A, G = tokens.to_grid(A, target.grid), tokens.to_grid(G, target.grid)
            self._fetches = {
                "gradients": (A, G, outputs, chosen), "forward": (A, outputs, chosen),
                "scores": class_score(logits, self._classes, head, score)}
        self.session = tf.compat.v1.Session(graph=self.graph)
        self._building = threading.Lock()

    def _build(self, guided=False, more_taps=None, at_target=lambda a: a):
        mapping = [(v, self._graph_vars[id(v)]) for v in self._live]
        with keras.StatelessScope(state_mapping=mapping), self.graph.tracing():
            return tapped_forward(self._model(), self._x, self._target, self._head,
                                  value_of=lambda v: self._graph_vars[id(v)],
                                  at_target=at_target,
                                  positive=positive_gradient if guided else None,
                                  inputs=self._inputs, extras=self._extras, more_taps=more_taps)

    def _attention_fetches(self):
        with self._building, self.graph.as_default():
            if "attention" not in self._fetches:
                found = []
                _, logits, outputs = self._build(
                    more_taps=attention_taps(self._model(), found))
                _, chosen = target_score(logits, outputs, self._classes, self._head,
                                         self._score)
                self._fetches["attention"] = (*queries_and_keys(found), outputs, chosen)
            return self._fetches["attention"]

    def _guided_fetches(self):
        with self._building, self.graph.as_default():  # the demo serves two requests at once
            if "guided" not in self._fetches:
                _, logits, outputs = self._build(guided=True)
                S, chosen = target_score(logits, outputs, self._classes, self._head, self._score)
                R = tf.compat.v1.gradients(tf.reduce_sum(S), self._x)[0]
                self._fetches["guided"] = (R, outputs, chosen)
            return self._fetches["guided"]

    def _second_fetches(self):
        with self._building, self.graph.as_default():
            if "second" not in self._fetches:
                with exact_moments():
                    A, logits, outputs = self._build()
                S, chosen = target_score(logits, outputs, self._classes, self._head, self._score)
                G = tf.compat.v1.gradients(tf.reduce_sum(S), A)[0]
                HA = tf.compat.v1.gradients(G, A, grad_ys=tf.stop_gradient(A))[0]
                HA = tf.zeros_like(A) if HA is None else HA   # the score is linear in A
                self._fetches["second"] = tuple(tokens.to_grid(t, self._target.grid)
                                                for t in (A, G, HA)) + (outputs, chosen)
            return self._fetches["second"]

    def _bias_fetches(self):
        with self._building, self.graph.as_default():
            if "bias" not in self._fetches:
                leaves, found = biased_leaves(self._model()), {}
                _, logits, outputs = self._build(more_taps=recording(leaves, found))
                S, chosen = target_score(logits, outputs, self._classes, self._head, self._score)
                outs = [found[leaf.path] for leaf in leaves]
                grads = tf.compat.v1.gradients(tf.reduce_sum(S), [self._x] + outs)
                grads = [tf.zeros_like(t) if g is None else g
                         for t, g in zip([self._x] + outs, grads)]
                self._fetches["bias"] = (grads[0], outs, grads[1:], outputs, chosen)
            return self._fetches["bias"]

    def _ablated_fetches(self):
        with self._building, self.graph.as_default():
            if "ablated" not in self._fetches:
                self._keep = tf.compat.v1.placeholder(tf.float32, (None, None), name="keep")
                _, logits, _ = self._build(at_target=channels_scaled(self._keep))
                self._fetches["ablated"] = class_score(logits, self._classes, self._head,
                                                       self._score)
            return self._fetches["ablated"]

    def _run(self, fetches, x, classes, extras, more_feeds=None):
        if self._watch.changed():
            ops = [op for op, _, _ in self._loaders]
            self.session.run(ops, {feed: v.numpy() for _, feed, v in self._loaders})
        feed = {self._x: x, self._classes: classes, **dict(zip(self._extras, extras)),
                **(more_feeds or {})}
        return self.session.run(fetches, feed)

    def gradients(self, x, classes, extras=()):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        return self._run(self._fetches["gradients"], x, classes, extras)

    def forward(self, x, classes, extras=()):
        """(A, outputs, classes) without gradients."""
        return self._run(self._fetches["forward"], x, classes, extras)

    def guided_gradients(self, x, classes, extras=()):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""
        return self._run(self._guided_fetches(), x, classes, extras)

    def class_scores(self, x, classes, extras=()):
        """The score of each image for its class (N,)."""
        return self._run(self._fetches["scores"], x, classes, extras)

    def attention(self, x, classes, extras=()):
        """(queries, keys, outputs, classes): each attention layer's projections (N, T, h, dk)."""
        return self._run(self._attention_fetches(), x, classes, extras)

    def second_order(self, x, classes, extras=()):
        """(A, G, H A, outputs, classes), H the Hessian of S with respect to A."""
        return self._run(self._second_fetches(), x, classes, extras)

    def bias_gradients(self, x, classes, extras=()):
        """(dS/dx, outs, grads, outputs, classes) of tapped.biased_leaves, in that order."""
        return self._run(self._bias_fetches(), x, classes, extras)

    def ablated_scores(self, x, classes, keep, extras=()):
        """The class scores (N,) with the target's channels multiplied by keep (N, K)."""
        fetch = self._ablated_fetches()
        return self._run(fetch, x, classes, extras, {self._keep: keep})


class _PrivateGraph(tf.Graph):
    """A tf.Graph that takes in the eager tensors a traced model uses, each as a constant.

    Keras 3 runs layers eagerly or inside a tf.function, never in a TF1 graph, so a layer may
    hold a constant as an eager tensor (Normalization's mean and variance). TensorFlow lets an
    eager tensor into a graph only while the graph says it is building a function, and then
    asks the graph to `capture` it; a tf.function takes a small one in as a Const op. While
    `tracing()`, this graph says so and takes every eager tensor in as a Const (an eager tensor
    is immutable, so the value is exact). Only the `building_function` property says so:
    tf.compat.v1.gradients reads the attribute behind it, and as_default, entered before
    tracing, stays a graph context for tf.init_scope.
    """

    def __init__(self):
        super().__init__()
        self._tracing = False
        self._eager_constants = {}  # id(eager tensor) -> (eager tensor, its Const)
        self._outside = tf.Graph()

    @property
    def building_function(self):
        return self._tracing

    @property
    def outer_graph(self):
        """A tf.function traced inside (Keras' grouped convolutions) climbs outer graphs to the
        first one not building a function: nothing encloses this graph, so an empty one."""
        return self._outside

    @contextlib.contextmanager
    def tracing(self):
        """Within, eager tensors that reach this graph (the default one) become constants."""
        self._tracing = True
        try:
            yield
        finally:
            self._tracing = False

    def capture(self, tensor, name=None, shape=None):
        """The Const standing for an eager `tensor` (one per tensor); a tensor of this graph
        is itself."""
        if not isinstance(tensor, tf.__internal__.EagerTensor):
            if getattr(tensor, "graph", None) is not self:
                raise ValueError(f"{tensor!r} belongs to another graph")
            return tensor
        if tensor.dtype in (tf.resource, tf.variant):
            raise ValueError("a layer uses an eager TensorFlow resource (a tf.Variable that Keras "
                             "does not track, or a table), whose state the graph backend cannot "
                             "copy; backends eager, tf-keras-vis use it as it is")
        if id(tensor) not in self._eager_constants:  # the tensor is kept: its id stays its own
            with tf.control_dependencies(None):
                const = tf.constant(tensor.numpy(), tensor.dtype, name=name or "eager")
            self._eager_constants[id(tensor)] = (tensor, const)
        return self._eager_constants[id(tensor)][1]


def _unique(variables):
    seen, kept = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            kept.append(v)
    return kept
