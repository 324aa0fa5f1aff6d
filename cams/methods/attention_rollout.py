"""Attention rollout (Abnar & Zuidema 2020): how much each patch flows into the class token.

Each block's attention probabilities, averaged over heads, get the residual connection added
as the identity, A = 0.5 W + 0.5 I, rows renormalized; the rollout multiplies them from the
first block up, R = A_L ... A_1, and the class token's row of R over the patches is the map.
The probabilities are recomputed as softmax(Q K^T / sqrt(d)) from each attention layer's own
query and key projections, tapped on the way (KerasHub's blocks do not hand them over, and
the model is not changed to make them). Class-agnostic; transformers only: the target layer
only says how the tokens lie (its tokens.TokenGrid).
"""
import numpy as np

from cams.model import tokens
from cams.methods.spec import Maps, Method


def probabilities(q, k):
    """Head-averaged attention probabilities (N, T, T) from queries and keys (N, T, heads, d):
    softmax over the keys of q.k / sqrt(d), as keras.layers.MultiHeadAttention computes them."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    logits = np.einsum("nqhd,nkhd->nhqk", q, k) / np.sqrt(q.shape[-1])
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(axis=-1, keepdims=True)).mean(axis=1)


def rollout(P):
    """The rollout (N, T, T) of the blocks' probabilities P (a list of (N, T, T), first block
    first): each 0.5 P + 0.5 I with rows renormalized, multiplied as A_L ... A_1."""
    R = None
    for p in P:
        a = 0.5 * p + 0.5 * np.eye(p.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        R = a if R is None else a @ R
    return R


def run(backend, x, classes):
    """Maps of attention rollout: the class token's row over the patches, on the grid."""
    queries, keys, outputs, chosen = backend.attention(x, classes)  # a backend may refuse
    grid = backend.grid
    if grid is None:
        raise ValueError("attention rollout explains a transformer: choose a layer of tokens "
                         "(N, T, D), whose grid says where the patches lie")
    if grid.prefix == 0:
        raise ValueError("attention rollout follows the class token's row, and this model's "
                         "tokens have no leading class token (it pools its patches, as Swin "
                         "and SigLIP do); the gradient methods explain it")
    # attention pooling (queries that are not the tokens themselves) is not part of the flow
    P = [probabilities(q, k) for q, k in zip(queries, keys) if q.shape[1] == k.shape[1]]
    counts = sorted({p.shape[-1] for p in P})
    if counts != [grid.tokens]:
        raise ValueError(f"attention rollout needs every block to attend over the layer's "
                         f"{grid.tokens} tokens; the attention layers attend over {counts}")
    flow = rollout(P)[:, 0, :]  # from the class token to every token
    return Maps(tokens.to_grid(flow[..., None], grid)[..., 0], outputs, chosen)


METHOD = Method("attention-rollout", 10, run,
                "class token's attention flow through every block, residuals included",
                needs=("attention",), class_specific=False, transformers_only=True)
