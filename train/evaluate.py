"""Evaluate a trained classifier: accuracy, ROC AUC, confusion matrix, and, where lesion masks
exist, whether each cams backend's Grad-CAM points at the lesion.

    python -m train.evaluate --model models/xray_phantoms.keras --data DIR
    python -m train.evaluate --model models/xray_phantoms.keras --phantoms 200 --seed 7

Writes a JSON report and a Markdown table (--out, default beside the model).
"""
import argparse
import os
import sys
import time

import numpy as np

import cams
from train import classification


def predict(model, x, batch_size):
    """Model outputs (N, classes) in batches; a single sigmoid unit becomes [1 - p, p]."""
    out = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                          for i in range(0, len(x), batch_size)])
    return np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out


def localization(model, x, masks, classes, layer, backends, batch_size):
    """Per backend: mean pointing game and energy in mask of Grad-CAM for `classes`."""
    from cams import metrics

    results = {}
    for backend in backends:
        start = time.perf_counter()
        res = cams.explain(model, x, layer=layer, class_index=[int(c) for c in classes],
                           backend=backend, batch_size=batch_size)
        hits = [metrics.pointing_game(heat, mask) for heat, mask in zip(res.heatmaps, masks)]
        energy = [metrics.energy_in_mask(heat, mask) for heat, mask in zip(res.heatmaps, masks)]
        results[backend] = {"pointing_game": float(np.mean(hits)),
                            "energy_in_mask": float(np.mean(energy)), "layer": res.layer,
                            "n_images": len(hits),
                            "seconds_per_image": (time.perf_counter() - start) / len(hits)}
    return results


def evaluate(model, card, images, labels, masks=None, has_mask=None, backends=cams.BACKENDS,
             layer=None, batch_size=16):
    """The report dict for uint8 RGB images with integer labels (and masks where known);
    card: the model's cams.io.modelcard.ModelCard."""
    x = card.preprocess(images.astype(np.float32))
    probabilities = predict(model, x, batch_size)
    report = {"n_images": int(len(images)), "class_names": list(card.class_names),
              **classification.summary(labels, probabilities)}
    if masks is not None and has_mask is not None and has_mask.any():
        layer = layer or card.cam_layer
        report["localization"] = localization(model, x[has_mask], masks[has_mask],
                                              labels[has_mask], layer, backends, batch_size)
    return report


def markdown(report):
    """The report as Markdown tables."""
    lines = ["| images | accuracy | ROC AUC |", "|---:|---:|---:|",
             f"| {report['n_images']} | {report['accuracy']:.3f} | {report['roc_auc']:.3f} |", "",
             "| confusion (rows: true) | " + " | ".join(report["class_names"]) + " |",
             "|---|" + "---:|" * len(report["class_names"])]
    for name, row in zip(report["class_names"], report["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    if "localization" in report:
        lines += ["", "| backend | layer | lesions | pointing game | energy in mask | s/image |",
                  "|---|---|---:|---:|---:|---:|"]
        for backend, r in report["localization"].items():
            lines.append(f"| {backend} | {r['layer']} | {r['n_images']} | {r['pointing_game']:.3f} "
                         f"| {r['energy_in_mask']:.3f} | {r['seconds_per_image']:.3f} |")
    return "\n".join(lines)


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras file (its NAME.json beside it)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="class-per-folder set (with a masks folder for lesions)")
    source.add_argument("--phantoms", type=int, help="evaluate on N fresh phantoms")
    parser.add_argument("--seed", type=int, default=12345, help="phantom seed (not a training one)")
    parser.add_argument("--out", help="report path without extension (default: beside the model)")
    parser.add_argument("--backends", nargs="+", choices=cams.BACKENDS, default=list(cams.BACKENDS))
    parser.add_argument("--layer", help="Grad-CAM layer (default: the model's recorded one)")
    parser.add_argument("--batch-size", type=int, default=16)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cams.io import modelcard
    from cams.report import write
    from train import data

    try:
        model, card = modelcard.load(args.model)
        for note in card.notes:
            print(f"note: {note}")
        images, labels, names, masks, has_mask = data.evaluation_set(
            args.data, args.phantoms, args.seed, int(card.input_size[0]))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if tuple(names) != card.class_names:
        print(f"note: data classes {names} vs model classes {list(card.class_names)}")
    report = evaluate(model, card, images, labels, masks, has_mask, args.backends, args.layer,
                      args.batch_size)
    report["model"] = args.model
    report["data"] = args.data or f"{args.phantoms} phantoms, seed {args.seed}"
    write(args.out or args.model[:-len(".keras")] + "_eval", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
