"""Interventions, the proof: take a candidate region out of the images whose evidence sits there
(filled from the surrounding pixels by ROAD's noisy linear imputation, Rong et al. 2022), and
paste it onto images of the other classes; then read the model again.

A model that needs the region loses its prediction when it is removed; a model that is moved
by the region alone takes the class when it is pasted onto another class's image. Pasting any
patch leaves seams, so the same box is also pasted from images of the target's own prediction
(the control, from another image of the target's own class): what the class's patch does
beyond that is its effect. A prediction counts as
flipped when it changes class and the probability moves by at least MARGIN, so that images
sitting on the fence do not count.

With masks of where the evidence should be (the lungs), a region that lies outside them is
also pasted without the masked pixels of the source or the target: a box drawn at the map's
coarse scale reaches into the lungs, and what it carries from there is the object, not a
shortcut.
"""
import numpy as np

from cams.metrics.road import impute

MAX_IMAGES = 48   # images per intervention and direction
MARGIN = 0.2      # a flip moves the class's probability by at least this much


def box_mask(box, size):
    """Boolean (H, W), True inside box [x0, y0, x1, y1) (pixels)."""
    H, W = size
    x0, y0, x1, y1 = box
    mask = np.zeros((H, W), bool)
    mask[max(0, y0):min(H, y1), max(0, x0):min(W, x1)] = True
    return mask


def removed(images, box, seed=0):
    """uint8 images (N, H, W, C) with the box filled from its surroundings (ROAD imputation)."""
    rng = np.random.default_rng(seed)
    mask = box_mask(box, images.shape[1:3])
    return np.stack([np.clip(np.rint(impute(im, mask, rng=rng)), 0, 255).astype(np.uint8)
                     for im in images])


def transplanted(targets, sources, box, keep=None):
    """uint8 `targets` (N, H, W, C) with the box's pixels taken from `sources` (M, H, W, C),
    source i % M for target i; with `keep` (bool (N, H, W)), only the pixels where keep[i]."""
    x0, y0, x1, y1 = box
    out = np.array(targets, copy=True)
    for i in range(len(out)):
        pasted = sources[i % len(sources), y0:y1, x0:x1]
        if keep is None:
            out[i, y0:y1, x0:x1] = pasted
        else:
            where = keep[i, y0:y1, x0:x1]
            out[i, y0:y1, x0:x1][where] = pasted[where]
    return out


def outside(roi, targets, sources):
    """Bool (N, H, W): the pixels outside the masks of both target i and its source i % M.
    roi: bool (images, H, W); targets, sources: indices into it."""
    sources = np.asarray(sources)[np.arange(len(targets)) % len(sources)]
    return ~(roi[np.asarray(targets)] | roi[sources])


def flips(before, after, cls, to_cls):
    """Boolean (n,): the prediction left class `cls` (to_cls False) or reached it (True), with
    cls's probability moving by at least MARGIN. before, after: probabilities (n, classes)."""
    moved = np.abs(after[:, cls] - before[:, cls]) >= MARGIN
    reached = after.argmax(1) == cls
    return moved & (reached if to_cls else ~reached)


def control_sources(targets, predicted):
    """For each target index, another image predicted the target's class (the next one in
    index order, wrapping round; the target itself when it is its class's only image): the
    control pastes the box from it, so that only seams, not another class's content, move the
    target. predicted: int (N,) of every image."""
    predicted = np.asarray(predicted)
    out = []
    for t in np.asarray(targets, int):
        same = np.nonzero(predicted == predicted[t])[0]
        out.append(same[(np.searchsorted(same, t) + 1) % len(same)])
    return np.asarray(out, int)


def spread(indices, limit):
    """At most `limit` of `indices`, evenly spaced."""
    indices = np.asarray(indices, int)
    if len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).round().astype(int)]


def intervene(predict, images, probabilities, members, others, box, cls, seed=0,
              limit=MAX_IMAGES, roi=None):
    """The effect of a region (box, pixels) that class `cls`'s evidence sits in.

    predict: uint8 images (n, H, W, C) -> probabilities (n, classes). images (N, H, W, C) with
    their probabilities (N, classes); members: indices of the images predicted `cls` whose
    evidence is in the box; others: indices of images predicted another class.
    Returns {"flip_rate_removed", "drop_removed" (mean fall of cls's probability),
    "flip_rate_transplanted", "rise_transplanted", "flip_rate_control" (the box pasted from
    other images of the target's class), "targets" (how many images each transplant was tried
    on), "flips_transplanted", "flips_control" (counts), "removed", "transplanted": indices,
    "after_removed", "after_transplanted": the changed images (for the report)}; a rate is
    None when there was no image to try it on. With roi (bool (N, H, W), the masks), also
    "flips_outside" and "flips_control_outside": the same transplants of the box's pixels
    outside the masks of source and target."""
    members, others = spread(members, limit), spread(others, limit)
    out = {"removed": members, "transplanted": others, "flip_rate_removed": None,
           "drop_removed": None, "flip_rate_transplanted": None, "rise_transplanted": None,
           "flip_rate_control": None, "targets": 0, "flips_transplanted": 0,
           "flips_control": 0, "after_removed": images[:0],
           "after_transplanted": images[:0]}
    if len(members):
        after = removed(images[members], box, seed)
        p = predict(after)
        out.update(flip_rate_removed=float(flips(probabilities[members], p, cls, False).mean()),
                   drop_removed=float((probabilities[members, cls] - p[:, cls]).mean()),
                   after_removed=after)
    if len(members) and len(others):
        after = transplanted(images[others], images[members], box)
        sources = control_sources(others, probabilities.argmax(axis=1))
        control = transplanted(images[others], images[sources], box)
        p, q = np.split(predict(np.concatenate([after, control])), 2)
        before = probabilities[others]
        moved, moved_control = flips(before, p, cls, True), flips(before, q, cls, True)
        out.update(flip_rate_transplanted=float(moved.mean()),
                   rise_transplanted=float((p[:, cls] - before[:, cls]).mean()),
                   flip_rate_control=float(moved_control.mean()), targets=len(others),
                   flips_transplanted=int(moved.sum()), flips_control=int(moved_control.sum()),
                   after_transplanted=after)
        if roi is not None:
            keep, keep_control = outside(roi, others, members), outside(roi, others, sources)
            p, q = np.split(predict(np.concatenate([
                transplanted(images[others], images[members], box, keep),
                transplanted(images[others], images[sources], box, keep_control)])), 2)
            out.update(flips_outside=int(flips(before, p, cls, True).sum()),
                       flips_control_outside=int(flips(before, q, cls, True).sum()))
    return out
