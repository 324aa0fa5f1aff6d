"""The audit's pictures as uint8 RGB arrays with captions: mean maps per class over the mean
image, cluster montages and before/after intervention examples. The report and the demo's
Audit tab show the same pictures."""
import cv2
import numpy as np

from cams.io import overlays

THUMB = 128        # each picture's side in pixels (upscaled when the model's input is smaller)
EXAMPLES = 4


def thumb(rgb, box=None):
    """uint8 RGB (THUMB, THUMB, 3): the image with its long side at THUMB, its aspect kept
    (centred on white), and box [x0, y0, x1, y1) (image pixels) drawn."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    if box is not None:
        rgb = rgb.copy()
        x0, y0, x1, y1 = box
        cv2.rectangle(rgb, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), max(1, max(rgb.shape[:2]) // 96))
    h, w = rgb.shape[:2]
    scale = THUMB / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)
    out = np.full((THUMB, THUMB, 3), 255, np.uint8)
    top, left = (THUMB - small.shape[0]) // 2, (THUMB - small.shape[1]) // 2
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def montage(tiles):
    """Tiles (each THUMB x THUMB x 3) side by side with a 4-pixel white gap: uint8 RGB."""
    gap = np.full((THUMB, 4, 3), 255, np.uint8)
    row = []
    for t in tiles:
        row += [t, gap]
    return np.concatenate(row[:-1], axis=1)


def mean_overlay(found, where):
    """The mean map of the images `where` (N,) bool over their mean image: a thumb."""
    from cams.audit import evidence

    rows = np.nonzero(where)[0]
    return thumb(overlays.overlay(evidence.mean_image(found.data.images, rows),
                                  evidence.mean_map(found.maps, rows), alpha=0.5))


def mean_maps(found):
    """[(picture, caption)]: per class, the mean map of the images labelled it and of those
    predicted it."""
    labels = np.asarray([str(lab) for lab in found.data.labels])
    out = []
    for c, name in enumerate(found.class_names):
        for title, where in (("labelled", labels == name), ("predicted", found.predicted == c)):
            if where.any():
                out.append((mean_overlay(found, where),
                            f"mean map, {title} {name} ({int(where.sum())} images)"))
    return out


def cluster_montages(found):
    """[(montage, caption)]: per predicted class and cluster, its mean map then examples."""
    return [(montage(tiles), caption) for tiles, caption in cluster_rows(found)]


def intervention_examples(found, most=4):
    """[(montage, caption)] for the `most` most suspicious candidates: an image before and
    after the removal, then another class's image before and after the transplant."""
    return [(montage(tiles), caption) for tiles, caption in intervention_rows(found, most)]


def cluster_rows(found):
    """[(tiles, caption)]: per predicted class and cluster, its mean map then examples."""
    out = []
    for c, (idx, labels) in found.clusters.items():
        name = found.class_names[c]
        info = found.result["per_class"][name]["clusters"]
        for k, entry in zip(np.unique(labels), info):
            members = idx[labels == k]
            where = np.zeros(len(found.predicted), bool)
            where[members] = True
            tiles = [mean_overlay(found, where)] + [
                thumb(overlays.overlay(found.data.images[i], found.maps[i], alpha=0.5))
                for i in members[:EXAMPLES]]
            out.append((tiles, f"predicted {name}, cluster {int(k)}: "
                        f"{entry['images']} images, {entry['purity']:.0%} labelled "
                        f"{entry['majority_label']} (first: the mean map)"))
    return out


def intervention_rows(found, most=4):
    """[(tiles, caption)] for the `most` most suspicious candidates: an image before and after
    the removal, then another class's image before and after the transplant."""
    by_id = {t["id"]: t for t in found.tried}   # two candidates may share a region
    out = []
    for cand in found.result["candidates"][:most]:
        t = by_id[cand["id"]]
        tiles = []
        if len(t["removed"]):
            i = t["removed"][0]
            tiles += [thumb(found.data.images[i], t["changed"]),
                      thumb(t["after_removed"][0], t["changed"])]
        if len(t["transplanted"]) and len(t["after_transplanted"]):
            j = t["transplanted"][0]
            tiles += [thumb(found.data.images[j], t["changed"]),
                      thumb(t["after_transplanted"][0], t["changed"])]
        if tiles:
            out.append((tiles, f"{cand['class']} region {cand['region']} "
                        f"(suspicion {cand['suspicion']:.2f}): removed, before | after; "
                        "transplanted, before | after"))
    return out
