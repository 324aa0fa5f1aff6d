"""A method x metric table for a trained model: which heatmaps can be trusted, and how much.

    python -m train.phantoms --out /tmp/phantoms --n 24 --seed 4242   # or your own folder
    python -m cams.report --model models/xray_phantoms.keras --data /tmp/phantoms
    python -m cams.report --model M --data DIR [--methods gradcam scorecam ...]

DIR is a class-per-folder set (DIR/<class>/*.png), with lesion masks in DIR/masks/<class>/ where
they are known; the model's card (NAME.json) gives its classes, preprocessing and layer.

Each image is explained for its labelled class. Columns: seconds per image; pointing game and
energy in mask (where masks exist); deletion AUC (lower is better) and insertion AUC (higher);
ROAD gap LeRF - MoRF (higher); average drop % (lower) and increase in confidence % (higher);
randomization rho, the rank correlation with the map of a copy whose layers above the CAM layer
are re-initialized (lower: the map depends on what the model learned).
Writes Markdown and JSON (--out, default beside the model). A long run keeps each finished
method's row in STEM.partial.json: stopped (Ctrl-C, a crash, a killed machine), the same
command scores only the methods still missing, as long as the model file, the images and the
settings that change the numbers are the same.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import cams

# --quick: under a quarter of the passes, the methods ranked as the full report ranks them
# (cams.bench --report --quick measures both: docs/report.md)
QUICK = {"steps": 8, "road_percentages": [50], "scorecam_top_k": 32, "ablationcam_top_k": 32}
QUICK_NOTE = ("deletion/insertion in 8 steps, ROAD at 50%%, Score-CAM's and Ablation-CAM's top "
              "32 channels")

def columns():
    """(key, header, format) of the table's columns: the time, then the catalog's metrics."""
    from cams.metrics.catalog import METRICS

    return [("seconds_per_image", "s/image", "{:.3f}")] + [(m.key, m.header, m.format)
                                                          for m in METRICS if m.reported]


def write(stem, report, table):
    """Write STEM.json and STEM.md, and print the table."""
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"Wrote {stem}.json and {stem}.md")


def fingerprint(args, rgb, labels, layer):
    """What a partial report must match to be continued: the model file's and the images'
    bytes (sha256), the labels, and every setting that changes a number."""
    from cams.io import fingerprint as prints

    return {"model_sha256": prints.file_sha256(args.model),   # a file, or a SavedModel folder
            "images_sha256": prints.arrays_sha256(rgb, np.asarray(labels, np.int64)),
            "layer": layer, "backend": args.backend, "steps": args.steps,
            "road_percentages": list(args.road_percentages),
            "scorecam_top_k": args.scorecam_top_k, "ablationcam_top_k": args.ablationcam_top_k,
            "batch_size": args.batch_size, "robustness_samples": args.robustness}


def finished_rows(path, settings):
    """{method: row} saved at `path` by an earlier run with the same `settings`; {} when there
    is none, or it was made otherwise (then it says so in one line)."""
    try:
        with open(path) as f:
            saved = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        print(f"note: {path} is unreadable; starting afresh")
        return {}
    if saved.get("settings") != settings:
        print(f"note: {path} was made with another model, images or settings; starting afresh")
        return {}
    return dict(saved.get("methods", {}))


def save_rows(path, settings, rows):
    """Write the finished rows to `path` through a temporary file (never half-written)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"settings": settings, "methods": rows}, f, indent=2)
    os.replace(tmp, path)


def heatmaps_of(model, x, classes, method, layer, backend, options, batch_size):
    """(heatmaps (N, ...), seconds per image) of one method, computed in batches."""
    start = time.perf_counter()
    res = cams.explain(model, x, layer=layer, class_index=[int(c) for c in classes],
                       method=method, backend=backend, batch_size=batch_size, **options)
    return res.heatmaps, (time.perf_counter() - start) / len(x)


def score_method(model, x, classes, masks, has_mask, method, layer, backend="eager",
                 options=None, steps=32, percentages=(20, 50, 80), n_random=8, batch_size=16,
                 randomized=None, reference=None, robustness_samples=0):
    """{column: value} for one method on preprocessed images x with their classes.
    randomized: the model's randomized copy above `layer` (metrics.randomized_copy), shared by
    every method of a report; None makes one for this method. reference: the probabilities no
    map changes (metrics.reference_probabilities(model, x, classes)), shared likewise; None
    computes them for this method. The randomization and random-logit checks, and the
    robustness metrics when robustness_samples > 0 (that many perturbed copies of each image),
    reuse the maps of the first n_random images."""
    from cams import metrics
    from cams.forward import passes

    before = passes()
    options = options or {}
    heat, seconds = heatmaps_of(model, x, classes, method, layer, backend, options, batch_size)
    row = {"seconds_per_image": seconds}
    if has_mask is not None and has_mask.any():
        pairs = [(h, m) for h, m, k in zip(heat, masks, has_mask) if k]
        for key, metric in (("pointing_game", metrics.pointing_game),
                            ("energy_in_mask", metrics.energy_in_mask),
                            ("rank_accuracy", metrics.rank_accuracy),
                            ("mask_auc", metrics.mask_auc)):
            row[key] = float(np.mean([metric(h, m) for h, m in pairs]))
    row["sparseness"] = float(metrics.sparseness(heat, x.shape[1:3]).mean())
    row["entropy"] = float(metrics.entropy(heat, x.shape[1:3]).mean())
    if reference is None:
        reference = metrics.reference_probabilities(model, x, classes)
    curves = metrics.deletion_insertion(model, x, heat, classes, steps=steps, reference=reference)
    row["deletion_auc"] = float(curves["deletion"].mean())
    row["insertion_auc"] = float(curves["insertion"].mean())
    row["road_gap"] = float(metrics.road(model, x, heat, classes, percentages)["gap"].mean())
    change = metrics.confidence_change(model, x, heat, classes, reference=reference)
    row["average_drop_pct"] = 100 * float(change["drop"].mean())
    row["increase_pct"] = 100 * float(change["increase"].mean())
    k = min(n_random, len(x))
    rho = metrics.randomization_check(
        model, x[:k], lambda m, xs: heatmaps_of(m, xs, classes[:k], method, layer, backend,
                                                 options, batch_size)[0], layer,
        copy=randomized, original=heat[:k])
    row["randomization_rho"] = float(rho.mean())

    def explain(xs, cs):
        return heatmaps_of(model, xs, cs, method, layer, backend, options, batch_size)[0]

    n_classes = max(2, int(model.outputs[0].shape[-1]))   # a single sigmoid unit: 2 classes
    row["random_logit_rho"] = float(metrics.random_logit(
        explain, x[:k], classes[:k], n_classes, original=heat[:k]).mean())
    if robustness_samples:
        row["max_sensitivity"] = float(metrics.max_sensitivity(
            explain, x[:k], classes[:k], samples=robustness_samples, original=heat[:k]).mean())
        row["local_lipschitz"] = float(metrics.local_lipschitz(
            explain, x[:k], classes[:k], samples=robustness_samples, original=heat[:k]).mean())
    return {**row, **_passes_since(before)}


def _passes_since(before):
    """{"forward_passes": images run through a model since `before` (cams.forward.passes()),
    "gradient_passes": those of them that were differentiated too}."""
    from cams.forward import passes

    now = passes()
    gradient = now["gradient"] - before["gradient"]
    return {"forward_passes": now["forward"] - before["forward"] + gradient,
            "gradient_passes": gradient}


def shared_copy(model, layer):
    """The randomized copy every method's randomization check uses (re-drawn once, compiled
    once per backend), or None when no weighted layer follows `layer` (each check then says
    so)."""
    from cams import metrics

    copy, redrawn = metrics.randomized_copy(model, layer)
    return copy if redrawn else None


def markdown(table, header_note=""):
    """The table as Markdown: one row per method."""
    keys = [c for c in columns() if any(c[0] in row for row in table.values())]
    lines = ([header_note, ""] if header_note else []) + [
        "| method | " + " | ".join(h for _, h, _ in keys) + " |",
        "|---|" + "---:|" * len(keys)]
    for method, row in table.items():
        cells = [fmt.format(row[key]) if key in row else "—" for key, _, fmt in keys]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    from cams.metrics.catalog import categories_line

    return "\n".join(lines + ["", categories_line({key for key, _, _ in keys})])


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    parser = argparse.ArgumentParser(prog="python -m cams.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras file (its NAME.json beside it)")
    parser.add_argument("--data", required=True,
                        help="class-per-folder images, with a masks/ folder where lesions are known")
    parser.add_argument("--out", help="report path without extension (default: beside the model)")
    parser.add_argument("--methods", nargs="+", choices=list(cams.METHODS),
                        default=list(cams.METHODS))
    parser.add_argument("--backend", choices=cams.BACKENDS, default=cams.BACKENDS[0],
                        help="default: the first, which is the running Keras backend's")
    parser.add_argument("--layer", help="CAM layer (default: the model's recorded one)")
    parser.add_argument("--max-images", type=int, default=48, help="use at most this many")
    parser.add_argument("--steps", type=int, help="deletion/insertion steps (default 32)")
    parser.add_argument("--road-percentages", type=int, nargs="+",
                        help="default 20 50 80")
    parser.add_argument("--scorecam-top-k", type=int, help="Faster Score-CAM: top k channels")
    parser.add_argument("--ablationcam-top-k", type=int,
                        help="Ablation-CAM: ablate only the top k channels")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--robustness", type=int, default=0, metavar="SAMPLES",
                        help="also max-sensitivity and the local Lipschitz estimate, from this "
                             "many perturbed copies of each of the first 8 images (default 0: "
                             "off; each copy is explained again)")
    parser.add_argument("--quick", action="store_true",
                        help=f"fewer passes ({QUICK_NOTE}); an option given wins")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    args.steps = 32 if args.steps is None else args.steps
    args.road_percentages = args.road_percentages or [20, 50, 80]
    return args


def load(args):
    """(model, card, images uint8, labels, masks, has_mask, layer path) for the arguments;
    ValueError/FileNotFoundError with a message for the person."""
    from cams.io import images, modelcard

    model, card = modelcard.load(args.model)
    for note in card.notes:
        print(f"note: {note}")
    size = tuple(int(s) for s in card.input_size[:2])     # (H, W): a model may not be square
    rgb, labels, names, paths = images.load_folder(args.data, size)
    if tuple(names) != card.class_names:
        print(f"note: data classes {names} vs model classes {list(card.class_names)}")
    masks, has_mask = images.load_masks(args.data, paths, size)
    keep = np.sort(np.random.default_rng(0).permutation(len(rgb))[:args.max_images])
    layer = cams.resolve_layer(model, args.layer or card.cam_layer).path
    return model, card, rgb[keep], labels[keep], masks[keep], has_mask[keep], layer


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow's pooling CPU allocator, read when TensorFlow loads: without it every forward
    # pass maps its activations afresh, and the page faults cost a third of the report's CPU.
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    try:
        model, card, rgb, labels, masks, has_mask, layer = load(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from keras.utils import Progbar

    from cams import metrics
    from cams.metrics import catalog

    stem = args.out or args.model[:-len(".keras")] + "_report"
    partial = stem + ".partial.json"
    try:   # before hours of work, not after: the folder the report goes to
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    except OSError as err:
        print(f"error: cannot write the report at {stem}: {err.strerror}", file=sys.stderr)
        return 2
    settings = fingerprint(args, rgb, labels, layer)
    done = finished_rows(partial, settings)
    todo = [m for m in args.methods if m not in done]
    if len(todo) < len(args.methods):
        print(f"continuing: {len(args.methods) - len(todo)} of {len(args.methods)} methods "
              f"already scored in {partial}")
    x = card.preprocess(rgb.astype(np.float32))
    from cams.forward import passes

    before = passes()
    reference = randomized = None   # what the methods share, made only if one is left to score
    if todo:
        try:
            reference = metrics.reference_probabilities(model, x, labels)
        except ValueError as err:   # a model the metrics cannot perturb
            print(f"error: {err}", file=sys.stderr)
            return 2
        randomized = shared_copy(model, layer)
    shared = _passes_since(before)
    bar = Progbar(len(args.methods), unit_name="method")
    bar.update(len(args.methods) - len(todo))
    try:
        for method in todo:
            top_k = {"scorecam": args.scorecam_top_k, "ablationcam": args.ablationcam_top_k}
            options = {"top_k": top_k[method]} if method in top_k else {}
            options.update((cams.conventions(args.backend) or {}).get(method, {}))
            try:
                done[method] = score_method(model, x, labels, masks, has_mask, method, layer,
                                            args.backend, options, args.steps,
                                            tuple(args.road_percentages),
                                            batch_size=args.batch_size, randomized=randomized,
                                            reference=reference,
                                            robustness_samples=args.robustness)
            except ValueError as err:  # a method this backend cannot compute
                done[method] = {"error": str(err)}
            save_rows(partial, settings, done)
            bar.add(1)
    except KeyboardInterrupt:
        print(f"\nstopped: {len(done)} of {len(args.methods)} methods are kept in {partial}; "
              "the same command continues from there", file=sys.stderr)
        return 130
    if randomized is not None:
        cams.forget(randomized)
    table = {m: done[m] for m in args.methods}
    note = (f"{args.model} on {len(x)} images ({args.data}; {int(has_mask.sum())} with masks), "
            f"layer {layer}, backend {args.backend}")
    rows = [r for r in table.values() if "error" not in r]
    counted = all("forward_passes" in r for r in rows)  # rows a partial file kept may not say
    report = {"model": args.model, "data": args.data, "n_images": int(len(x)), "layer": layer,
              "backend": args.backend, "steps": args.steps,
              "road_percentages": args.road_percentages,
              "scorecam_top_k": args.scorecam_top_k, "ablationcam_top_k": args.ablationcam_top_k,
              "batch_size": args.batch_size, "robustness_samples": args.robustness,
              "metrics": catalog.described(),
              "forward_passes": (shared["forward_passes"] + sum(r["forward_passes"] for r in rows)
                                 if counted else None),
              "gradient_passes": (sum(r["gradient_passes"] for r in rows) if counted else None),
              "methods": table}
    text = markdown({m: r for m, r in table.items() if "error" not in r}, note)
    errors = [f"- {m}: {r['error']}" for m, r in table.items() if "error" in r]
    text += ("\n\n" + "\n".join(errors)) if errors else ""
    write(stem, report, text)
    os.remove(partial)
    return 0


if __name__ == "__main__":
    sys.exit(main())
