"""The explain step of the audit: maps of the predicted class for every image, by the batched
path every tool of cams explains by (cams.explain_batches)."""
import numpy as np


def explain_maps(model, images, preprocess, method="gradcam", layer=None, batch_size=32,
                 progress=None):
    """(maps float32 (N, H, W) in [0, 1] at the input's size, probabilities (N, classes), the
    path of the layer explained) of uint8 RGB images (N, H, W, 3), each map for its image's
    predicted class, by the running Keras backend's default cams backend (eager under
    TensorFlow, jax or torch under those). preprocess(float RGB batch) runs a batch at a time:
    no float copy of the whole set is made. progress(done, total) after each batch."""
    import cams

    n = len(images)
    batches = (preprocess(images[start:start + batch_size].astype(np.float32))
               for start in range(0, n, batch_size))
    found = cams.explain_batches(model, batches, method=method, layer=layer,
                                 progress=progress and (lambda done: progress(done, n)))
    heat = found["heatmaps"]
    if heat.shape[1:] == images.shape[1:3]:
        return heat, found["probabilities"], found["layer"]
    maps = np.empty(images.shape[:3], np.float32)  # filled a batch at a time: no second copy
    for start in range(0, n, batch_size):
        maps[start:start + batch_size] = cams.upsample(heat[start:start + batch_size],
                                                       images.shape[1:3])
    return maps, found["probabilities"], found["layer"]
