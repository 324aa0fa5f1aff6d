"""A method x metric table for a trained model: which heatmaps can be trusted, and how much.

    python -m cams.report --model models/xray_phantoms.keras --phantoms 24 --seed 4242
    python -m cams.report --model M --data DIR [--methods gradcam scorecam ...]

Each image is explained for its labelled class. Columns: seconds per image; pointing game and
energy in mask (where masks exist); deletion AUC (lower is better) and insertion AUC (higher);
ROAD gap LeRF - MoRF (higher); average drop % (lower) and increase in confidence % (higher);
randomization rho, the rank correlation with the map of a copy whose layers above the CAM layer
are re-initialized (lower: the map depends on what the model learned).
Writes Markdown and JSON (--out, default beside the model).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import cams  # noqa: E402
from cams import metrics  # noqa: E402

COLUMNS = [  # key, header, format
    ("seconds_per_image", "s/image", "{:.3f}"),
    ("pointing_game", "pointing ↑", "{:.3f}"),
    ("energy_in_mask", "energy ↑", "{:.3f}"),
    ("deletion_auc", "deletion ↓", "{:.3f}"),
    ("insertion_auc", "insertion ↑", "{:.3f}"),
    ("road_gap", "ROAD gap ↑", "{:.3f}"),
    ("average_drop_pct", "avg drop % ↓", "{:.1f}"),
    ("increase_pct", "increase % ↑", "{:.1f}"),
    ("randomization_rho", "random. ρ ↓", "{:.2f}"),
]


def heatmaps_of(model, x, classes, method, layer, backend, options, batch_size):
    """(heatmaps (N, ...), seconds per image) of one method, computed in batches."""
    start, maps = time.perf_counter(), []
    for i in range(0, len(x), batch_size):
        res = cams.explain(model, x[i:i + batch_size], layer=layer,
                           class_index=[int(c) for c in classes[i:i + batch_size]],
                           method=method, backend=backend, **options)
        maps.append(res.heatmaps)
    return np.concatenate(maps), (time.perf_counter() - start) / len(x)


def score_method(model, x, classes, masks, has_mask, method, layer, backend="eager",
                 options=None, steps=32, percentages=(20, 50, 80), n_random=8, batch_size=16):
    """{column: value} for one method on preprocessed images x with their classes."""
    options = options or {}
    heat, seconds = heatmaps_of(model, x, classes, method, layer, backend, options, batch_size)
    row = {"seconds_per_image": seconds}
    if has_mask is not None and has_mask.any():
        pairs = [(h, m) for h, m, k in zip(heat, masks, has_mask) if k]
        row["pointing_game"] = float(np.mean([metrics.pointing_game(h, m) for h, m in pairs]))
        row["energy_in_mask"] = float(np.mean([metrics.energy_in_mask(h, m) for h, m in pairs]))
    curves = metrics.deletion_insertion(model, x, heat, classes, steps=steps)
    row["deletion_auc"] = float(curves["deletion"].mean())
    row["insertion_auc"] = float(curves["insertion"].mean())
    row["road_gap"] = float(metrics.road(model, x, heat, classes, percentages)["gap"].mean())
    change = metrics.confidence_change(model, x, heat, classes)
    row["average_drop_pct"] = 100 * float(change["drop"].mean())
    row["increase_pct"] = 100 * float(change["increase"].mean())
    k = min(n_random, len(x))
    rho = metrics.randomization_check(
        model, x[:k], lambda m, xs: heatmaps_of(m, xs, classes[:k], method, layer, backend,
                                                 options, batch_size)[0], layer)
    row["randomization_rho"] = float(rho.mean())
    return row


def markdown(table, header_note=""):
    """The table as Markdown: one row per method."""
    keys = [c for c in COLUMNS if any(c[0] in row for row in table.values())]
    lines = ([header_note, ""] if header_note else []) + [
        "| method | " + " | ".join(h for _, h, _ in keys) + " |",
        "|---|" + "---:|" * len(keys)]
    for method, row in table.items():
        cells = [fmt.format(row[key]) if key in row else "—" for key, _, fmt in keys]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from train import data, evaluate, modelinfo, preprocess  # what train/ writes and reads

    modelinfo.add_arguments(parser, seed=4242, verb="score")
    parser.add_argument("--methods", nargs="+", choices=cams.METHODS, default=list(cams.METHODS))
    parser.add_argument("--backend", choices=cams.BACKENDS, default="eager")
    parser.add_argument("--layer", help="CAM layer (default: the model's recorded one)")
    parser.add_argument("--max-images", type=int, default=48, help="use at most this many")
    parser.add_argument("--steps", type=int, default=32, help="deletion/insertion steps")
    parser.add_argument("--road-percentages", type=int, nargs="+", default=[20, 50, 80])
    parser.add_argument("--scorecam-top-k", type=int, help="Faster Score-CAM: top k channels")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        model, info, (images, labels, _, masks, has_mask), source = modelinfo.load_with_data(args)
    except (FileNotFoundError, ValueError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    keep = np.sort(np.random.default_rng(0).permutation(len(images))[:args.max_images])
    x = preprocess.get(info["preprocessing"])(images[keep].astype(np.float32))
    labels, masks, has_mask = labels[keep], masks[keep], has_mask[keep]
    layer = args.layer or info.get("cam_layer")
    try:
        layer = cams.layers.resolve(model, layer).path
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from keras.utils import Progbar
    bar, table = Progbar(len(args.methods), unit_name="method"), {}
    for i, method in enumerate(args.methods):
        options = {"top_k": args.scorecam_top_k} if method == "scorecam" else {}
        if args.backend == "tf-keras-vis":
            from cams.backends.tfkv import CONVENTIONS
            options.update(CONVENTIONS.get(method, {}))
        try:
            table[method] = score_method(model, x, labels, masks, has_mask, method, layer,
                                         args.backend, options, args.steps,
                                         tuple(args.road_percentages), batch_size=args.batch_size)
        except ValueError as err:  # a method this backend cannot compute
            table[method] = {"error": str(err)}
        bar.update(i + 1)
    note = (f"{args.model} on {len(x)} images ({source}; {int(has_mask.sum())} with masks), "
            f"layer {layer}, backend {args.backend}")
    report = {"model": args.model, "data": source, "n_images": int(len(x)), "layer": layer,
              "backend": args.backend, "steps": args.steps,
              "road_percentages": args.road_percentages, "methods": table}
    text = markdown({m: r for m, r in table.items() if "error" not in r}, note)
    errors = [f"- {m}: {r['error']}" for m, r in table.items() if "error" in r]
    text += ("\n\n" + "\n".join(errors)) if errors else ""
    evaluate.write(args.out or args.model[:-len(".keras")] + "_report", report, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
