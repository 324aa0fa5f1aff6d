"""The shortcut audit's benchmark: small seeded models trained on clean and on contaminated
phantom sets, each model's true reliance on its marker measured by intervention, and how well
the audit (cams.audit) tells them apart.

    python -m train.audit_benchmark --out OUT [--seeds 4] [--size 64] [--blocks 3] [--methods ...]

For every seed: one clean model, and one shortcut model trained on the same base images with a
marker burned into --share of the "opacity" images; the markers cycle through --kinds x
--places (seed s takes combination s mod 6), so 12 seeds give 12 clean and 12 shortcut models,
each (kind, place) twice. Reliance: the balanced accuracy on held-out phantoms with the markers on the
other class instead (a model that follows its marker falls below 0.5). The audit runs on 200
other phantoms of the model's own kind (marked like its training set), with and without the
lung masks. Writes OUT/benchmark.json (one row per model and method) and prints the summary:
detection rate, false-alarm rate, AUROC of the score, median IoU of the reported region with
the marker's zone, clean models' map mass inside the lungs, and the time of every step.
A model that stays near chance (balanced accuracy < 0.8 as trained) is retried with another
initialization, up to 3 times; one that never learns is listed but left out of the summary.
"""
import argparse
import json
import os
import time

import numpy as np

KINDS = ("glyph", "label", "border")    # the kinds and places the thresholds were chosen on
PLACES = ("top-left", "bottom-right")
MARKERS = KINDS + ("text",)             # burned-in "AP": held out from the choice
ALL_PLACES = PLACES + ("top-right", "bottom-left")
METHODS = {4: ("gradcam@conv4", "gradcam@conv3", "layercam@conv3", "hirescam@conv3"),
           3: ("gradcam@conv3", "gradcam@conv2", "layercam@conv3", "hirescam@conv3")}
WIDTHS = {4: (16, 32, 32, 64),   # the CNN the thresholds were chosen on
          3: (16, 32, 64)}       # a receptive field of about a lesion (18 px at 64 px)
NAMES = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "guided-grads",
         "scorecam", "eigencam", "guided-backprop", "guided-gradcam")  # cams.METHODS (tested)
LEARNED = 0.8      # a model counts when its balanced accuracy (as trained) reaches this
TRIES = 3          # initializations tried before a model is reported as not learned


def parse(argv=None):
    """The command line (parsed before TensorFlow loads)."""
    p = argparse.ArgumentParser(prog="python -m train.audit_benchmark", description=" ".join(
        __doc__.split("\n\n")[0].split()))
    p.add_argument("--out", help="folder for benchmark.json (needed unless --summarize)")
    p.add_argument("--seeds", type=int, default=12, help="models of each kind (clean, shortcut)")
    p.add_argument("--seed-start", type=int, default=0, help="the first seed (to split a run "
                   "over processes; --summarize takes their files together)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--train", type=int, default=600, help="training images per model")
    p.add_argument("--audit-images", type=int, default=200)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--blocks", type=int, choices=sorted(WIDTHS), default=4,
                   help="conv blocks of the tiny CNN: 4 (the thresholds were chosen on it; the "
                   "last layer sees 38 of 64 px) or 3 (global max pooling at 16 x 16, each cell "
                   "sees 18 px, about a lesion)")
    p.add_argument("--share", type=float, default=0.9, help="share of opacity images marked")
    p.add_argument("--kinds", nargs="+", choices=MARKERS, default=list(KINDS),
                   help="marker kinds (default: the three the thresholds were chosen on; "
                   "'text' was held out)")
    p.add_argument("--places", nargs="+", choices=ALL_PLACES, default=list(PLACES))
    p.add_argument("--summarize", metavar="JSON", nargs="+", help="only summarize earlier "
                   "runs' benchmark.json files with the current thresholds")
    p.add_argument("--methods", nargs="+", help="METHOD@LAYER of the tiny CNN (conv2 32x32, "
                   "conv3 16x16, conv4 8x8 at 64 px; default: " + "; ".join(
                       f"{b} blocks {' '.join(m)}" for b, m in METHODS.items()) + ")")
    args = p.parse_args(argv)
    if not args.out and not args.summarize:
        p.error("--out is required (a folder for benchmark.json), unless --summarize")
    args.methods = args.methods or list(METHODS[args.blocks])
    layers = {f"conv{i}" for i in range(1, args.blocks + 1)}
    for method in args.methods:
        if method.partition("@")[0] not in NAMES:
            p.error(f"--methods {method}: unknown method; known: {', '.join(NAMES)}")
        if method.partition("@")[2] not in layers:
            p.error(f"--methods {method}: give METHOD@LAYER with a layer of the {args.blocks}-"
                    f"block CNN ({', '.join(sorted(layers))})")
    return args


def base_images(n, seed, size):
    """(images uint8 (n, size, size), labels int (n,)) of n phantoms, alternating classes."""
    from train import phantoms

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = np.stack([phantoms.phantom(rng, bool(y), size)[0] for y in labels])
    return images, labels


def marked(images, labels, shortcut, seed, on_class=1):
    """RGB uint8 (n, S, S, 3) with shortcut's marker on a share of the class `on_class`."""
    from train import phantoms

    if shortcut is None:
        return np.repeat(images[..., None], 3, axis=-1)
    rng = np.random.default_rng([seed, 7])
    out = images.copy()
    for i in np.nonzero(labels == on_class)[0]:
        if rng.uniform() < shortcut.share:
            out[i] = phantoms.draw_marker(out[i], shortcut.kind, shortcut.place, rng)
    return np.repeat(out[..., None], 3, axis=-1)


def tiny_cnn(size, seed, blocks=4):
    """A CNN of 3x3 convolutions conv1, conv2, ... (filters WIDTHS[blocks]), each but the last
    followed by 2x2 max pooling, then global max pooling (the class score is the strongest
    cell) and a softmax over the 2 classes; input RGB 0..255. With 4 blocks the last layer
    sits at 1/8 of the input, with 3 at 1/4."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    x = inputs = keras.Input((size, size, 3))
    x = L.Rescaling(1 / 255.0)(x)
    for i, filters in enumerate(WIDTHS[blocks], start=1):
        x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < blocks:
            x = L.MaxPooling2D(name=f"pool{i}")(x)
    x = L.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax", name="predictions")(x))


def train(x, y, seed, epochs, blocks=4):
    """A tiny_cnn trained on RGB x (n, S, S, 3) and labels y (n,): the model."""
    import keras

    model = tiny_cnn(x.shape[1], seed, blocks)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x.astype(np.float32), y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    return model


def balanced_accuracy(model, x, y):
    """Mean of the per-class accuracies of model on RGB x (n, S, S, 3), labels y."""
    pred = np.asarray(model.predict(x.astype(np.float32), verbose=0, batch_size=64)).argmax(1)
    return float(np.mean([(pred[y == c] == c).mean() for c in (0, 1)]))


def iou(a, b):
    """Intersection over union of boxes [x0, y0, x1, y1)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def auroc(scores, positive):
    """Area under the ROC curve of `scores` for the boolean `positive` (ties count half)."""
    s, p = np.asarray(scores, float), np.asarray(positive, bool)
    pos, neg = s[p], s[~p]
    if not len(pos) or not len(neg):
        return None
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum())
                 / (len(pos) * len(neg)))


def audit_one(model, folder, method_at_layer, roi, zone):
    """One audit of `model` on the phantom set in `folder`: a row of the benchmark."""
    from cams.audit import audit, evidence

    method, layer = method_at_layer.split("@")
    start = time.perf_counter()
    found = audit(model, folder, roi=os.path.join(folder, "roi") if roi else None,
                  method=method, layer=layer, class_names=("normal", "opacity"))
    result = found.result
    best = result["candidates"][0] if result["candidates"] else None
    lungs = evidence.roi_share(found.maps, _lungs(folder, found.data.names, found.maps.shape[1]))
    lesion = np.asarray(found.data.labels) == "opacity"
    return {"method": method_at_layer, "roi": roi, "score": result["score"],
            "flagged": result["verdict"] == "shortcut suspected",
            "region": best and best["region"],
            "iou": iou(best["region"], zone) if best and zone else None,
            "candidates": result["candidates"],
            "mass_in_lungs": float(lungs.mean()),
            "mass_in_lungs_opacity": float(lungs[lesion].mean()),
            "mass_in_lungs_normal": float(lungs[~lesion].mean()),
            "seconds": time.perf_counter() - start,
            "timings_s": found.timings}


def _lungs(folder, names, size):
    from cams.audit.data import load_masks
    from cams.dataset.sources import Item

    return load_masks(os.path.join(folder, "roi"),
                      [Item(os.path.join(folder, n), n) for n in names], size)


def run_model(args, seed, shortcut, cache, tmp):
    """Train one model (shortcut None: clean) and audit it with every method, with and without
    the lung masks: its benchmark rows."""
    from train import phantoms

    if seed not in cache:
        cache[seed] = (base_images(args.train, seed * 100 + 1, args.size),
                       base_images(200, seed * 100 + 2, args.size))
    (train_x, train_y), (test_x, test_y) = cache[seed]
    start = time.perf_counter()
    for attempt in range(TRIES):  # a start that never leaves chance is retried, and counted
        model = train(marked(train_x, train_y, shortcut, seed), train_y,
                      seed + 1000 * attempt, args.epochs, args.blocks)
        as_trained = balanced_accuracy(model, marked(test_x, test_y, shortcut, seed + 1),
                                       test_y)
        if as_trained >= LEARNED:
            break
    trained_s = time.perf_counter() - start
    if as_trained < LEARNED:
        print(f"seed {seed} {'clean' if shortcut is None else 'shortcut'} model: balanced "
              f"accuracy {as_trained:.2f} < {LEARNED} after {TRIES} initializations: audited "
              "and listed, left out of the summary (train longer or on more images)", flush=True)
    swapped = (balanced_accuracy(model, marked(test_x, test_y, shortcut, seed + 1, 0), test_y)
               if shortcut else None)
    name = "clean" if shortcut is None else f"{shortcut.kind}-{shortcut.place}"
    folder = os.path.join(tmp, f"{name}-{seed}")
    phantoms.write_set(folder, args.audit_images, seed * 100 + 3, args.size, progress=False,
                       shortcut=shortcut)
    zone = shortcut and phantoms.marker_zone(shortcut.kind, shortcut.place, args.size)
    rows = []
    for method in args.methods:
        for roi in (True, False):
            row = audit_one(model, folder, method, roi, zone)
            rows.append({"model": name, "seed": seed, "blocks": args.blocks,
                         "shortcut": shortcut is not None,
                         "accuracy": as_trained, "swapped_accuracy": swapped,
                         "attempts": attempt + 1, "learned": as_trained >= LEARNED,
                         "train_s": trained_s, **row})
            print(f"{name:>24} seed {seed} {args.blocks} blocks {method:>16} roi={roi!s:5} "
                  f"acc {as_trained:.2f} "
                  f"swapped {swapped if swapped is None else round(swapped, 2)} score "
                  f"{row['score']:.2f} flagged {row['flagged']!s:5} iou "
                  f"{row['iou'] if row['iou'] is None else round(row['iou'], 2)} lungs "
                  f"{row['mass_in_lungs']:.2f} {row['seconds']:.1f}s", flush=True)
    return rows


def summary(rows):
    """Per (blocks, method, roi): detection rate, false-alarm rate, AUROC, median IoU over
    flagged shortcut models, clean models' mean map mass inside the lungs, mean audit seconds."""
    from cams.audit.verdict import FLIP

    rows = [{**r, "flagged": r["score"] >= FLIP} for r in _scored(rows)]
    out = []
    for (blocks, method, roi), sel in _groups(rows).items():
        bad = [r for r in sel if r["shortcut"]]
        clean = [r for r in sel if not r["shortcut"]]
        ious = [r["iou"] for r in bad if r["flagged"] and r["iou"] is not None]
        out.append({
            "blocks": blocks, "method": method, "roi": roi, "shortcut_models": len(bad),
            "clean_models": len(clean),
            "detection_rate": float(np.mean([r["flagged"] for r in bad])) if bad else None,
            "false_alarm_rate": (float(np.mean([r["flagged"] for r in clean])) if clean
                                 else None),
            "auroc": auroc([r["score"] for r in sel], [r["shortcut"] for r in sel]),
            "median_iou": float(np.median(ious)) if ious else None,
            **{f"clean_mass_in_lungs{part}": _mean(clean, f"mass_in_lungs{part}")
               for part in ("", "_opacity", "_normal")},
            "audit_s": float(np.mean([r["seconds"] for r in sel]))})
    return out


def _groups(rows):
    """{(blocks, method, roi): its rows}, in the rows' order; a row without "blocks" (written
    before the option existed) is of the 4-block CNN. Different CNNs are never pooled."""
    out = {}
    for r in rows:
        out.setdefault((r.get("blocks", 4), r["method"], r["roi"]), []).append(r)
    return out


def _scored(rows):
    """The rows of models that learned, each scored again with the current thresholds (the
    largest suspicion of its candidates)."""
    from cams.audit.verdict import suspicion

    return [{**r, "score": max([suspicion(c) for c in r["candidates"]], default=0.0)}
            for r in rows if r.get("learned", True)]


def _mean(rows, key):
    """The mean of rows' `key` where they have it, or None."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def sweep(rows, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7)):
    """Per (blocks, method, roi) and flip threshold: detection and false-alarm rates, to show
    how far the chosen threshold (verdict.FLIP) sits from the edges of the gap between the two
    kinds of models."""
    out = []
    for (blocks, method, roi), sel in _groups(_scored(rows)).items():
        bad = [r["score"] for r in sel if r["shortcut"]]
        clean = [r["score"] for r in sel if not r["shortcut"]]
        out.append({"blocks": blocks, "method": method, "roi": roi, **{
            f"flip {t}": f"{_rate(bad, t)} / {_rate(clean, t)}" for t in thresholds}})
    return out


def _rate(scores, threshold):
    """The share of scores at or above threshold as "0.00", or "—" when there are none."""
    return f"{np.mean([s >= threshold for s in scores]):.2f}" if scores else "—"


def markdown(table):
    """The summary as a Markdown table."""
    def f(v):
        return "—" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)
    keys = list(table[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(f(r[k]) for k in keys) + " |" for r in table])


def _write(args, rows, start):
    """Write OUT/benchmark.json (after every seed, so that a stopped run keeps its rows)."""
    table = summary(rows)
    with open(os.path.join(args.out, "benchmark.json"), "w") as f:
        json.dump({"command": vars(args), "rows": rows, "summary": table, "sweep": sweep(rows),
                   "seconds": time.perf_counter() - start}, f, indent=1, default=float)
    return table


def main(argv=None):
    args = parse(argv)
    if args.summarize:
        rows = []
        for path in args.summarize:
            with open(path) as f:
                run = json.load(f)
            blocks = run["command"].get("blocks", 4)  # files from before rows named it
            rows += [{"blocks": blocks, **r} for r in run["rows"]]
        _print(summary(rows), sweep(rows))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    from train import phantoms

    os.makedirs(args.out, exist_ok=True)
    start, rows, cache = time.perf_counter(), [], {}
    with tempfile.TemporaryDirectory() as tmp:
        combos = [(k, p) for k in args.kinds for p in args.places]
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            rows += run_model(args, seed, None, cache, tmp)
            kind, place = combos[seed % len(combos)]
            rows += run_model(args, seed, phantoms.Shortcut(kind, "opacity", args.share, place),
                              cache, tmp)
            cache.pop(seed)
            _write(args, rows, start)
    _print(_write(args, rows, start), sweep(rows))
    print(f"{len(rows)} audits in {time.perf_counter() - start:.0f} s")
    return 0


def _print(table, swept):
    """The summary and the sweep as Markdown, or a sentence when no model learned."""
    if not table:
        print(f"no model reached balanced accuracy {LEARNED}: nothing to summarize (each "
              "row of benchmark.json says how far it got)")
        return
    print(markdown(table))
    print(markdown(swept))


if __name__ == "__main__":
    raise SystemExit(main())
