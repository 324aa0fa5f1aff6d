"""The audit as one call: read -> maps -> downsampled -> clusters -> regions -> interventions ->
verdict (-> report). Each step is a pure function of the module named for it; this one only
chains them, times them and writes OUT/audit.json and OUT/report.html at the very end."""
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from cams.audit import artifact, clusters, data, evidence, interventions, regions, verdict
from cams.audit.maps import explain_maps

GRID = 16         # maps are compared on a 16 x 16 lattice
ROI_CELL = 0.5    # a cell is inside the region of interest when it covers half of it


@dataclass
class Audit:
    """What the audit computed: `result` is audit.json; the arrays are what the report draws.
    images uint8 (N, S, S, 3), maps float32 (N, S, S), probabilities (N, classes),
    predicted int (N,), clusters {class index: labels of its images (indices, cluster ids)},
    tried: the candidates with their intervention examples, timings {step: seconds}, roi_share
    float (N,) or None."""
    result: dict
    data: data.AuditData
    class_names: tuple
    maps: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray
    clusters: dict
    tried: list
    timings: dict = field(default_factory=dict)
    roi_share: np.ndarray | None = None   # each map's mass inside its region (with masks)


@contextmanager
def _timed(timings, step, progress, fraction):
    if progress:
        progress(fraction, step)
    start = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - start, 2)


def _model_and_card(model, preprocess, layer, class_names):
    """(model, preprocess function, layer, class names, (H, W) the images are read at, notes:
    the defaults used where nothing was said) from a path (its card) or a Keras model."""
    from cams.io import modelcard, preprocessing
    from cams.explanation import describe

    if isinstance(preprocess, str):
        preprocess = preprocessing.get(preprocess)
    if isinstance(model, (str, os.PathLike)):
        model, card = modelcard.load(str(model))
        named, own, layer = card.class_names, card.preprocess, layer or card.cam_layer
        size, notes = card.input_size[:2], card.notes
    else:
        info = describe(model)
        named, names_note = modelcard.default_class_names(info.head.n_classes)
        own, size = (lambda x: x), info.input_shape[1:3]
        notes = (modelcard.PREPROCESSING_NOTE, names_note)
        if None in size:
            raise ValueError(f"the model takes images of any size (input "
                             f"{info.input_shape[1:]}) and the audit reads every image at one "
                             "size: build it with a fixed input size, or pass the path of a "
                             "model whose card gives input_size")
    names = tuple(class_names or named)
    if len(names) != len(named):
        raise ValueError(f"{len(names)} class names given; the model has {len(named)} classes")
    unknown = modelcard.default_class_names(len(names))[1]
    notes = tuple(n for n in notes   # a default the caller has just replaced is none
                  if not (n == unknown and class_names)
                  and not (n == modelcard.PREPROCESSING_NOTE and preprocess))
    return model, preprocess or own, layer, names, tuple(int(s) for s in size), notes


def _names_from_folders(names, notes, labels):
    """(class names, notes): when nothing named the classes (the "unknown" note stands) and the
    data's class folders are as many as the model's classes, their names in sorted order, the
    order in which Keras' image_dataset_from_directory numbers them, with a note saying so."""
    from cams.io import modelcard

    unknown = modelcard.default_class_names(len(names))[1]
    folders = sorted({lab for lab in labels if lab is not None})
    if unknown not in notes or len(folders) != len(names):
        return names, notes
    note = (f"class names taken from the data's class folders in sorted order (as Keras' "
            f"image_dataset_from_directory numbers them): {', '.join(folders)}; give "
            "--class-names (or a card) if the model was trained in another order")
    return tuple(folders), tuple(note if n == unknown else n for n in notes)


def predictor(model, preprocess, batch_size=32):
    """uint8 RGB (n, H, W, 3) -> every class's probability (n, classes), in batches."""
    from cams.model import scores
    from cams.explanation import describe

    head = describe(model).head

    import keras

    def predict(rgb):   # convert_to_numpy: a torch output that requires grad included
        out = [keras.ops.convert_to_numpy(model(preprocess(rgb[i:i + batch_size].astype(
            np.float32)), training=False)) for i in range(0, len(rgb), batch_size)]
        return scores.all_probabilities(np.concatenate(out), head)
    return predict


# The method the held-out benchmark favours with and without masks (docs/audit-benchmark.md):
# HiRes-CAM at the model's last spatial layer. Its maps of a clean model sit on the lesions,
# whose boxes the content test sets aside as the object; Grad-CAM's coarser maps miss markers.
DEFAULT_METHOD = "hirescam"


def audit(model, data_path, out=None, roi=None, *, preprocess=None, layer=None,
          method=None, class_names=None, max_images=None, progress=None, seed=0):
    """Audit `model` on the images of `data_path` for shortcuts; returns an `Audit` whose
    .result is the JSON written to OUT/audit.json (with OUT/report.html) when `out` is given.

    model: a Keras model or the path of one (its card gives preprocessing, layer, class
    names). roi: a folder of masks mirroring the data (see cams.audit.data). preprocess: a
    function on float RGB (N, H, W, 3) in [0, 255] or a cams.io.preprocessing name.
    progress(fraction, step) is called as the steps start. Nothing is written when reading
    fails (ValueError). method: a name in cams.METHODS; HiRes-CAM by default
    (DEFAULT_METHOD)."""
    method = method or DEFAULT_METHOD
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"the output {out} is a file; give a folder for audit.json and "
                         "report.html")
    timings = {}
    with _timed(timings, "read", progress, 0.0):
        model, preprocess, layer, names, size, notes = _model_and_card(model, preprocess,
                                                                       layer, class_names)
        ds = data.load(data_path, size, roi, max_images)
        names, notes = _names_from_folders(names, notes, ds.labels)
    with _timed(timings, "maps", progress, 0.05):
        maps, probs, layer = explain_maps(model, ds.images, preprocess, method, layer)
    predicted = probs.argmax(axis=1)
    with _timed(timings, "clusters", progress, 0.5):
        small = evidence.downsample(maps, GRID)
        groups = _cluster_by_class(small, predicted, ds.labels, seed)
    with _timed(timings, "regions", progress, 0.55):
        outside = None if ds.roi is None else evidence.cell_share(ds.roi, GRID) < ROI_CELL
        found = _candidates(small, outside, predicted, groups)
    with _timed(timings, "interventions", progress, 0.6):
        share = None if ds.roi is None else evidence.roi_share(maps, ds.roi)
        tried = _intervene(found, ds, share, probs, predicted, names, model, preprocess,
                           size, seed)
    with _timed(timings, "verdict", progress, 0.9):
        per_class = _per_class(names, ds, predicted, groups, share)
        reasons = untestable(predicted, names, ds.labels)
        result = verdict.verdict([_public(t) for t in tried], per_class, reasons)
        if result["findings"]:   # found all the same: what could not be tested is a note
            notes = tuple(notes) + tuple(reasons)
        result.update(untestable=reasons, images=len(ds.names),
                      skipped=[list(s) for s in ds.skipped],
                      method=method, layer=layer, roi=roi is not None,
                      notes=list(notes) + result["notes"])
    found = Audit(result, ds, names, maps, probs, predicted, groups, tried, timings, share)
    if out is not None:
        with _timed(timings, "report", progress, 0.95):
            html = _render(found)
        write(out, found, html)
    result["timings_s"] = timings
    return found


def untestable(predicted, names, labels):
    """Why the audit cannot vouch for the model whatever the candidates show: [sentences].
    One predicted class (no image of another class to paste a region onto), a class predicted
    for fewer than verdict.MIN_PREDICTED images (too few to paste onto or to find its regions),
    and labels of which none is one of the model's class names (the per-class figures and the
    clusters' purity would mean nothing)."""
    counts = np.bincount(np.asarray(predicted, int), minlength=len(names))
    seen = np.nonzero(counts)[0]
    if len(seen) == 1:
        return [f"the model predicts {names[seen[0]]} for every image: with no image of "
                "another class to paste a region onto, the transplant test cannot run; audit "
                "a set the model splits into classes"]
    few = [f"{names[c]} ({counts[c]})" for c in range(len(names))
           if counts[c] < verdict.MIN_PREDICTED]
    out = [f"{len(few)} of the model's {len(names)} classes are predicted for fewer than "
           f"{verdict.MIN_PREDICTED} images, too few to paste regions onto them or to find "
           f"their regions: {', '.join(few[:5])}{', ...' if len(few) > 5 else ''}; add "
           "images of those classes"] if few else []
    given = sorted({lab for lab in labels if lab is not None})
    if given and not set(given) & set(names):
        out.append(f"the data's labels ({', '.join(given[:6])}) match none of the model's "
                   f"class names ({', '.join(names[:6])}): give --class-names in the model's "
                   "output order, or name the class folders as the model's classes")
    return out


def _render(found):
    from cams.audit import report_html

    found.result["timings_s"] = found.timings
    return report_html.render(found)


def write(out, found, html):
    """Write OUT/audit.json and OUT/report.html (each through a temporary file)."""
    os.makedirs(out, exist_ok=True)
    for name, text in (("audit.json", json.dumps(found.result, indent=2)),
                       ("report.html", html)):
        tmp = os.path.join(out, f".{name}.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(out, name))


def _cluster_by_class(small, predicted, labels, seed):
    """{class index: (indices of the images predicted it, cluster labels)}."""
    groups = {}
    for c in sorted(set(predicted.tolist())):
        idx = np.nonzero(predicted == c)[0]
        groups[c] = (idx, clusters.cluster(small[idx], seed=seed)[0])
    return groups


def _candidates(small, outside, predicted, groups):
    """Candidate regions per class and per cluster of a class, one per distinct box:
    [{"class": c, "group": "class" or cluster id, "box": cells, "members": image indices,
    "consistency", "outside_only"}]. With masks, the boxes are sought among all hot cells, as
    without masks (a marker can sit on the lungs, and its content then decides), and among the
    hot cells outside them: a box found only there ("outside_only") counts only when its
    pixels outside the masks alone move the model (verdict.outside_masks)."""
    found = {}
    for c, (idx, labels) in groups.items():
        parts = [("class", idx)] + ([(int(k), idx[labels == k]) for k in np.unique(labels)]
                                    if labels.max(initial=0) > 0 else [])
        for group, members in parts:
            for where in ([None] if outside is None else [None, outside[members]]):
                cand = regions.candidate(small[members], where)
                if cand is None:
                    continue
                key = (c, tuple(cand["box"]))
                entry = {"class": c, "group": group, "box": cand["box"],
                         "members": members[cand["members"]],
                         "consistency": cand["consistency"], "outside_only": where is not None}
                kept = found.get(key)
                if kept is None or len(entry["members"]) > len(kept["members"]):
                    found[key] = entry
                if kept is not None:   # found by both searches: judged as without masks
                    found[key]["outside_only"] = kept["outside_only"] and entry["outside_only"]
    return list(found.values())


def _intervene(found, ds, share, probs, predicted, names, model, preprocess, size, seed):
    """Each candidate tried on the images (share: each map's mass inside the region of
    interest, or None without one)."""
    predict = predictor(model, preprocess)
    tried = []
    for cand in found:
        box = regions.to_pixels(cand["box"], GRID, size)
        # a map is blurred at its layer's scale: the intervention takes one cell more around
        changed = regions.to_pixels(regions.grown(cand["box"], GRID), GRID, size)
        c = cand["class"]
        others = np.nonzero(predicted != c)[0]
        in_roi = share_out = None
        if ds.roi is not None and len(cand["members"]):
            mask = interventions.box_mask(box, size)
            in_roi = float(np.mean([ds.roi[i][mask].mean() for i in cand["members"]]))
            share_out = float(1 - share[cand["members"]].mean())
        # a region outside the masks is also pasted without their pixels (verdict.outside_masks)
        masks = ds.roi if in_roi is not None and in_roi < verdict.MAX_IN_ROI else None
        effect = interventions.intervene(predict, ds.images, probs, cand["members"], others,
                                         changed, c, seed, roi=masks)
        pairs = artifact.pair_correlations(ds.images, cand["members"], others, changed)
        typical = artifact.stereotypy(pairs)
        if typical is not None and typical >= verdict.ARTIFACT:   # show where the copy is
            box = artifact.whole_extent(ds.images, cand["members"], others, changed)
        tried.append({**cand, **effect, "class_name": names[c], "region": box, "changed": changed,
                      "images": int(len(cand["members"])), "in_roi": in_roi,
                      "share_outside_roi": share_out, "stereotypy": typical,
                      "resemblance": artifact.resemblance(pairs), "id": len(tried)})
    return tried


def _public(t):
    """A tried candidate as JSON: names, numbers and the region, no arrays."""
    return {"id": t["id"], "class": t["class_name"], "group": t["group"], "region": t["region"],
            "images": t["images"], "consistency": round(t["consistency"], 4),
            "in_roi": t["in_roi"], "share_outside_roi": t["share_outside_roi"],
            **{k: None if t[k] is None else round(t[k], 4)
               for k in ("stereotypy", "resemblance")},
            "outside_only": t["outside_only"],
            **{k: t[k] for k in ("flip_rate_removed", "drop_removed",
                                 "flip_rate_transplanted", "rise_transplanted",
                                 "flip_rate_control", "targets", "flips_transplanted",
                                 "flips_control")},
            **{k: t[k] for k in ("flips_outside", "flips_control_outside") if k in t}}


def _per_class(names, ds, predicted, groups, share):
    out = {}
    for c, name in enumerate(names):
        labelled = np.asarray([lab == name for lab in ds.labels])
        entry = {"images_labelled": int(labelled.sum()),
                 "images_predicted": int((predicted == c).sum()), "clusters": []}
        if c in groups:
            idx, labels = groups[c]
            for k, (n, major, pure) in clusters.purity(
                    labels, [ds.labels[i] for i in idx]).items():
                members = idx[labels == k]
                entry["clusters"].append({"cluster": int(k), "images": n,
                                          "majority_label": major, "purity": round(pure, 4),
                                          "examples": [ds.names[i] for i in members[:4]]})
        if share is not None and (predicted == c).any():
            s = share[predicted == c]
            order = np.nonzero(predicted == c)[0][np.argsort(s)]
            entry["share_in_roi"] = {"mean": round(float(s.mean()), 4),
                                     "median": round(float(np.median(s)), 4),
                                     "least": [[ds.names[i], round(float(share[i]), 4)]
                                               for i in order[:5]]}
        out[name] = entry
    return out
