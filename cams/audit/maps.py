"""The explain step of the audit: maps of the predicted class for every image, in batches.
One function, so that the dataset engine's batched step can take its place."""
import numpy as np


def explain_maps(model, images, preprocess, method="gradcam", layer=None, batch_size=32,
                 progress=None):
    """(maps float32 (N, H, W) in [0, 1] at the input's size, probabilities (N, classes), the
    path of the layer explained) of uint8 RGB images (N, H, W, 3), each map for its image's
    predicted class, by the running Keras backend's default cams backend (eager under
    TensorFlow, jax or torch under those). preprocess(float RGB batch) runs a batch at a time:
    no float copy of the whole set is made. progress(done, total) after each batch."""
    import cams

    maps = np.empty(images.shape[:3], np.float32)  # filled in place: no list to join
    probs = None
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start:start + batch_size].astype(np.float32))
        res = cams.explain(model, x, layer=layer, method=method)
        heat = res.heatmaps
        if heat.shape[1:] != images.shape[1:3]:
            heat = cams.upsample(heat, images.shape[1:3])
        maps[start:start + len(x)] = heat
        if probs is None:
            probs = np.empty((len(images), res.probabilities.shape[1]), np.float32)
        probs[start:start + len(x)] = res.probabilities
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return maps, probs, res.layer
