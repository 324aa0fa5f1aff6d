"""PyTorch backend, for Keras running on PyTorch (KERAS_BACKEND=torch): torch.autograd on the
live model.

The layers before the target run without recording a graph; A is then detached and made to
require grad (so a frozen model, or one reloaded from .keras, whose tensors require no grad,
still gives dS/dA), and the rest of the model runs from it. All L classes' gradients come from
one forward pass and one batched backward pass (autograd.grad with is_grads_batched).
"""
import keras
import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from cams.model import scores
from cams.backends.backend import ModelBackend, on_grid
from cams.backends.tapped import (attention_taps, biased_leaves, channels_scaled, class_score,
                                  queries_and_keys, recording, tapped_forward, target_score)


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward lets only positive gradients through (guided backprop)."""

    @staticmethod
    def forward(ctx, y):
        return y.view_as(y)

    @staticmethod
    def backward(ctx, dy):
        return dy.clamp(min=0)


positive_gradient = _PositiveGradient.apply


def _leaf_from_here(A):
    """at_target for tapped_forward: A as a new leaf that requires grad, recorded from here on."""
    A = A.detach().requires_grad_(True)
    torch.set_grad_enabled(True)  # undone when the caller's torch.no_grad() block ends
    return A


def numpy(values):
    """Torch tensors (on any device, requiring grad or not) as NumPy arrays."""
    return tuple(keras.ops.convert_to_numpy(v) for v in values)


class TorchBackend(ModelBackend):
    """Computes A, dS/dA, guided input gradients and class scores with torch.autograd."""

    name = "torch"

    def __init__(self, model, target, info, score):
        super().__init__(model, target, info, score)

    def _run(self, x, extras, at_target=lambda a: a, positive=None, more_taps=None):
        extras = [keras.ops.convert_to_tensor(e) for e in extras]
        return tapped_forward(self._model(), x, self._target, self._head,
                              value_of=lambda v: v.value, at_target=at_target,
                              positive=positive, inputs=self._inputs, extras=extras,
                              more_taps=more_taps)

    @staticmethod
    def _tensors(x, classes):
        return (keras.ops.convert_to_tensor(np.asarray(x, np.float32)),
                keras.ops.convert_to_tensor(np.asarray(classes, np.int32)))

    def gradients(self, x, classes, extras=()):
        """(A, G, outputs, classes) as NumPy arrays; classes -1 mean "the predicted class"."""
        x, classes = self._tensors(x, classes)
        with torch.no_grad():
            A, logits, outputs = self._run(x, extras, at_target=_leaf_from_here)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            # image n's S depends on its own A only: the gradient of the sum is each one's
            (G,) = torch.autograd.grad(S.sum(), A)
        A, G, outputs, chosen = numpy((A, G, outputs, chosen))
        return (*on_grid(self.grid, A, G), outputs, chosen)

    def gradients_all(self, x, classes, extras=()):
        """(A, G (N, L, h, w, K), outputs, classes) for classes (N, L), from one forward pass."""
        x, classes = self._tensors(x, classes)
        with torch.no_grad():
            A, logits, outputs = self._run(x, extras, at_target=_leaf_from_here)
            S = scores.select(logits if self._score == "logit" else outputs, classes, self._head)
            n_classes = S.shape[1]
            # cotangent l: one-hot on column l of every row; G comes out (L, N, h, w, K)
            eye = torch.eye(n_classes, dtype=S.dtype, device=S.device)
            one_hot = eye[:, None, :].expand(n_classes, S.shape[0], n_classes)
            (G,) = torch.autograd.grad(S, A, grad_outputs=one_hot, is_grads_batched=True)
        A, G, outputs, classes = numpy((A, G.movedim(0, 1), outputs, classes))
        return (*on_grid(self.grid, A, G), outputs, classes)

    def forward(self, x, classes, extras=()):
        """(A, outputs, classes) without gradients."""
        x, classes = self._tensors(x, classes)
        with torch.no_grad():
            A, logits, outputs = self._run(x, extras)
            _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        A, outputs, chosen = numpy((A, outputs, chosen))
        return (*on_grid(self.grid, A), outputs, chosen)

    def guided_gradients(self, x, classes, extras=()):
        """(R = guided dS/dx (N, H, W, C), outputs, classes)."""
        x, classes = self._tensors(x, classes)
        with torch.enable_grad():
            x.requires_grad_(True)
            _, logits, outputs = self._run(x, extras, positive=positive_gradient)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            (R,) = torch.autograd.grad(S.sum(), x)
        return numpy((R, outputs, chosen))

    def second_order(self, x, classes, extras=()):
        """(A, G, H A, outputs, classes), H the Hessian of S with respect to A."""
        x, classes = self._tensors(x, classes)
        # PyTorch's fused attention kernels have no second derivative; the plain one has
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            A, logits, outputs = self._run(x, extras, at_target=_leaf_from_here)
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            (G,) = torch.autograd.grad(S.sum(), A, create_graph=True)
            HA = None
            if G.requires_grad:   # else the score is linear in A: H A is 0
                (HA,) = torch.autograd.grad(G, A, grad_outputs=A.detach(), allow_unused=True)
            HA = torch.zeros_like(A) if HA is None else HA
        A, G, HA, outputs, chosen = numpy((A, G, HA, outputs, chosen))
        return (*on_grid(self.grid, A, G, HA), outputs, chosen)

    def bias_gradients(self, x, classes, extras=()):
        """(dS/dx, outs, grads, outputs, classes) of tapped.biased_leaves, in that order."""
        leaves, found = biased_leaves(self._model()), {}
        x, classes = self._tensors(x, classes)
        with torch.enable_grad():
            x.requires_grad_(True)
            _, logits, outputs = self._run(x, extras, more_taps=recording(leaves, found))
            S, chosen = target_score(logits, outputs, classes, self._head, self._score)
            outs = [found[leaf.path] for leaf in leaves]
            grads = torch.autograd.grad(S.sum(), [x] + outs, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip([x] + outs, grads)]
        R, outputs, chosen = numpy((grads[0], outputs, chosen))
        return R, list(numpy(outs)), list(numpy(grads[1:])), outputs, chosen

    def ablated_scores(self, x, classes, keep, extras=()):
        """The class scores (N,) with the target's channels multiplied by keep (N, K)."""
        x, classes = self._tensors(x, classes)
        keep = keras.ops.convert_to_tensor(np.asarray(keep, np.float32))
        with torch.no_grad():
            _, logits, _ = self._run(x, extras, at_target=channels_scaled(keep))
            return keras.ops.convert_to_numpy(class_score(logits, classes, self._head,
                                                          self._score))

    def class_scores(self, x, classes, extras=()):
        """The score of each image for its class (N,)."""
        x, classes = self._tensors(x, classes)
        with torch.no_grad():
            _, logits, _ = self._run(x, extras)
            return keras.ops.convert_to_numpy(class_score(logits, classes, self._head,
                                                          self._score))

    def attention(self, x, classes, extras=()):
        """(queries, keys, outputs, classes): each attention layer's projections (N, T, h, dk)."""
        found = []
        taps = attention_taps(self._model(), found)  # a model without them is refused here
        x, classes = self._tensors(x, classes)
        with torch.no_grad():
            _, logits, outputs = self._run(x, extras, more_taps=taps)
            _, chosen = target_score(logits, outputs, classes, self._head, self._score)
        queries, keys = queries_and_keys(found)
        return ([keras.ops.convert_to_numpy(q) for q in queries],
                [keras.ops.convert_to_numpy(k) for k in keys], *numpy((outputs, chosen)))
