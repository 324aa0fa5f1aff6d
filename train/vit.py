"""A small vision transformer from Keras' own layers, random initialization, for phantoms.

Patches of `patch` pixels embedded by a strided convolution (cams reads the grid from it),
positions from a 3x3 depthwise convolution on the patch grid added to the embedding
(conditional position encoding, Chu et al. 2021: no custom layer, so the saved model loads
anywhere), then pre-norm transformer blocks (Dosovitskiy et al. 2021) and a final layer norm.
There is no class token: the head pools the patch tokens, so every block's output carries a
gradient and the map can be taken at the last one.
"""
import keras


def build(size=224, patch=16, dim=64, depth=4, heads=4, mlp=128):
    """The backbone keras.Model "vit": (N, size, size, 3) -> tokens (N, (size // patch)**2, dim)."""
    if size % patch:
        raise ValueError(f"the vit backbone needs an input size divisible by its patch size "
                         f"{patch}; got {size}")
    grid = size // patch
    x = keras.Input((size, size, 3), name="image")
    p = keras.layers.Conv2D(dim, patch, strides=patch, name="patch_embedding")(x)
    p = keras.layers.Add(name="with_positions")(
        [p, keras.layers.DepthwiseConv2D(3, padding="same", name="position_conv")(p)])
    t = keras.layers.Reshape((grid * grid, dim), name="tokens")(p)
    for i in range(1, depth + 1):
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(t)
        h = keras.layers.MultiHeadAttention(heads, dim // heads, name=f"block{i}_attention")(h, h)
        t = keras.layers.Add(name=f"block{i}_attention_add")([t, h])
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(t)
        h = keras.layers.Dense(mlp, activation="gelu", name=f"block{i}_mlp1")(h)
        h = keras.layers.Dense(dim, name=f"block{i}_mlp2")(h)
        t = keras.layers.Add(name=f"block{i}_out")([t, h])
    t = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(t)
    return keras.Model(x, t, name="vit")
