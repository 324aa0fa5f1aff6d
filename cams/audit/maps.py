"""The explain step of the audit: maps of the predicted class for every image, in batches.
One function, so that the dataset engine's batched step can take its place."""
import numpy as np


def explain_maps(model, x, method="gradcam", layer=None, batch_size=32, progress=None):
    """(maps float32 (N, H, W) in [0, 1] at the input's size, probabilities (N, classes), the
    path of the layer explained) of the preprocessed images x (N, H, W, C), each map for its
    image's predicted class, by the running Keras backend's default cams backend (eager
    under TensorFlow, jax or torch under those). progress(done, total) after each batch."""
    import cams

    maps, probs = [], []
    for start in range(0, len(x), batch_size):
        res = cams.explain(model, x[start:start + batch_size], layer=layer, method=method)
        heat = res.heatmaps
        if heat.shape[1:] != x.shape[1:3]:
            heat = cams.upsample(heat, x.shape[1:3])
        maps.append(np.asarray(heat, np.float32))
        probs.append(np.asarray(res.probabilities, np.float32))
        if progress:
            progress(min(start + batch_size, len(x)), len(x))
    return np.concatenate(maps), np.concatenate(probs), res.layer
