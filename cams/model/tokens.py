"""Transformer tokens as a patch grid: how many leading tokens are not patches, and the grid.

A vision transformer's layers output tokens (N, T, D): some leading tokens that are no patch
(a class token, DeiT's distillation token, DINOv2's register tokens), then the patches row by
row. The grid is read from the model: the image size over the patch size (the stride of the
patch-embedding convolution), or a Swin stage's own `input_resolution`. A layer whose token
count matches no grid gets an error that says what was found; `TokenGrid` given to
cams.explain(tokens=...) says it for a model cams cannot read. Every backend reshapes with
`to_grid`; the methods only ever see (N, h, w, D) maps.
"""
from dataclasses import dataclass

import numpy as np

MAX_PREFIX = 16  # leading non-patch tokens cams infers: class, distillation, up to 14 registers


@dataclass(frozen=True)
class TokenGrid:
    """How a transformer's tokens (N, prefix + height * width, D) lie: `prefix` leading
    non-patch tokens, then a height x width grid of patches, row by row.

    Attributes:
        prefix (int): the class, distillation and register tokens before the patches.
        height (int): patch rows (the image's height over the patch size).
        width (int): patch columns.
    """
    prefix: int
    height: int
    width: int

    @property
    def tokens(self):
        """How many tokens a layer with this layout outputs."""
        return self.prefix + self.height * self.width


def is_tokens(shape):
    """True for a 3-D output (N, T, D): a transformer's tokens."""
    return shape is not None and len(shape) == 3 and shape[1] is not None


def to_grid(t, grid):
    """Tokens (..., T, D) as patch maps (..., height, width, D), the leading `grid.prefix`
    tokens dropped; a NumPy array stays NumPy, a tensor becomes a tensor of the Keras backend.
    `t` unchanged when grid is None (a convolutional map)."""
    if grid is None:
        return t
    shape = tuple(t.shape)
    if shape[-2] is not None and shape[-2] != grid.tokens:
        raise ValueError(f"expected {grid.tokens} tokens ({grid.prefix} + {grid.height}x"
                         f"{grid.width}), got {shape[-2]}")
    patches = t[..., grid.prefix:, :]
    if isinstance(t, np.ndarray):
        return patches.reshape(shape[:-2] + (grid.height, grid.width, shape[-1]))
    import keras

    dims = tuple(keras.ops.shape(patches))  # a traced batch size is a tensor here
    return keras.ops.reshape(patches, dims[:-2] + (grid.height, grid.width, dims[-1]))


def patch_size(model):
    """(ph, pw): the strides of the model's patch embedding, its first Conv2D whose kernel
    equals its strides (larger than 1); None when it has none."""
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(
                layer, keras.layers.Conv2DTranspose):
            strides = tuple(layer.strides)
            if tuple(layer.kernel_size) == strides and max(strides) > 1:
                return strides
    return None


@dataclass(frozen=True)
class Grids:
    """The grids a model's tokens can lie on: the patch grid (image size // patch size) and
    any stage resolutions (Swin) its layers declare."""
    image: tuple             # (H, W) of the image input
    patch: tuple | None      # (ph, pw), or None when no patch embedding was found
    grids: tuple             # ((h, w), ...), the patch grid first

    def describe(self):
        """What was read off the model, in words, for error messages."""
        patch = ("no patch embedding (no Conv2D with kernel = strides)" if self.patch is None
                 else f"patch size {self.patch[0]}x{self.patch[1]}")
        found = ", ".join(f"{h}x{w}" for h, w in self.grids) or "none"
        return f"image {self.image[0]}x{self.image[1]}, {patch}, grids {found}"


def read_grids(model, image_shape):
    """The Grids of `model`, whose image input is (None, H, W, C)."""
    image = tuple(image_shape[1:3])
    patch = patch_size(model)
    grids = []
    if patch is not None and None not in image:
        grids.append((image[0] // patch[0], image[1] // patch[1]))
    for layer in model._flatten_layers(include_self=False, recursive=True):
        resolution = getattr(layer, "input_resolution", None)
        if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
            resolution = tuple(int(r) for r in resolution)
            if resolution not in grids:
                grids.append(resolution)
    return Grids(image, patch, tuple(grids))


def grid_for(count, grids, path=""):
    """The TokenGrid of a layer outputting `count` tokens: a known grid exactly (no leading
    tokens), else the patch grid after 1..MAX_PREFIX leading tokens. ValueError saying what was
    found when none fits, or when two grids of different shapes fit."""
    exact = [g for g in grids.grids if g[0] * g[1] == count]
    if len(exact) > 1:
        raise ValueError(f"layer {path!r} outputs {count} tokens, which fit several grids "
                         f"({', '.join(f'{h}x{w}' for h, w in exact)}; {grids.describe()}); "
                         "pass tokens=cams.TokenGrid(prefix, height, width)")
    if exact:
        return TokenGrid(0, *exact[0])
    if grids.grids:
        h, w = grids.grids[0]
        if 0 < count - h * w <= MAX_PREFIX:
            return TokenGrid(count - h * w, h, w)
    raise ValueError(f"layer {path!r} outputs {count} tokens, which match no patch grid read "
                     f"from the model ({grids.describe()}; up to {MAX_PREFIX} leading class, "
                     "distillation or register tokens are inferred); pass "
                     "tokens=cams.TokenGrid(prefix, height, width) to say how they lie")


def as_token_grid(tokens):
    """`tokens` (a TokenGrid or a (prefix, height, width) tuple of ints) as a TokenGrid;
    TypeError/ValueError saying what is accepted otherwise."""
    if isinstance(tokens, (tuple, list)) and len(tokens) == 3:
        tokens = TokenGrid(*tokens)
    if not isinstance(tokens, TokenGrid) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            for v in (tokens.prefix, tokens.height, tokens.width)):
        raise TypeError("tokens must be cams.TokenGrid(prefix, height, width) or a tuple of "
                        f"three ints; got {tokens!r}")
    if tokens.prefix < 0 or tokens.height < 1 or tokens.width < 1:
        raise ValueError(f"tokens needs prefix >= 0 and a grid of at least 1x1; got {tokens}")
    return TokenGrid(int(tokens.prefix), int(tokens.height), int(tokens.width))


def check_token_grid(tokens, shape, path):
    """`tokens` as a TokenGrid that fits a layer of output `shape`; ValueError otherwise."""
    grid = as_token_grid(tokens)
    if not is_tokens(shape):
        raise ValueError(f"tokens= applies to a layer of tokens (N, T, D); layer {path!r} "
                         f"outputs {shape}")
    if shape[1] != grid.tokens:
        raise ValueError(f"layer {path!r} outputs {shape[1]} tokens, but tokens={grid} "
                         f"describes {grid.tokens} ({grid.prefix} + {grid.height}x"
                         f"{grid.width})")
    return grid
