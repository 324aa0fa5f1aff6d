"""Evaluate a trained classifier: accuracy, ROC AUC, confusion matrix, and, where lesion masks
exist, whether each cams backend's Grad-CAM points at the lesion.

    python -m train.evaluate --model models/xray_phantoms.keras --data DIR
    python -m train.evaluate --model models/xray_phantoms.keras --phantoms 200 --seed 7

Writes a JSON report and a Markdown table (--out, default beside the model).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import cams  # noqa: E402
from cams import metrics  # noqa: E402
from train import classification, data, modelinfo, preprocess  # noqa: E402


def predict(model, x, batch_size):
    """Model outputs (N, classes) in batches; a single sigmoid unit becomes [1 - p, p]."""
    out = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                          for i in range(0, len(x), batch_size)])
    return np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out


def localization(model, x, masks, classes, layer, backends, batch_size):
    """Per backend: mean pointing game and energy in mask of Grad-CAM for `classes`."""
    results = {}
    for backend in backends:
        hits, energy, start = [], [], time.perf_counter()
        for i in range(0, len(x), batch_size):
            res = cams.explain(model, x[i:i + batch_size], layer=layer,
                               class_index=[int(c) for c in classes[i:i + batch_size]],
                               backend=backend)
            for heat, mask in zip(res.heatmaps, masks[i:i + batch_size]):
                hits.append(metrics.pointing_game(heat, mask))
                energy.append(metrics.energy_in_mask(heat, mask))
        results[backend] = {"pointing_game": float(np.mean(hits)),
                            "energy_in_mask": float(np.mean(energy)), "layer": res.layer,
                            "n_images": len(hits),
                            "seconds_per_image": (time.perf_counter() - start) / len(hits)}
    return results


def evaluate(model, info, images, labels, masks=None, has_mask=None, backends=cams.BACKENDS,
             layer=None, batch_size=16):
    """The report dict for uint8 RGB images with integer labels (and masks where known)."""
    x = preprocess.get(info["preprocessing"])(images.astype(np.float32))
    probabilities = predict(model, x, batch_size)
    report = {"n_images": int(len(images)), "class_names": info["class_names"],
              **classification.summary(labels, probabilities)}
    if masks is not None and has_mask is not None and has_mask.any():
        layer = layer or info.get("cam_layer")
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modelinfo.add_arguments(parser, seed=12345, verb="evaluate")
    parser.add_argument("--backends", nargs="+", choices=cams.BACKENDS, default=list(cams.BACKENDS))
    parser.add_argument("--layer", help="Grad-CAM layer (default: the model's recorded one)")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        model, info, (images, labels, _, masks, has_mask), source = modelinfo.load_with_data(args)
    except (FileNotFoundError, ValueError, data.DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = evaluate(model, info, images, labels, masks, has_mask, args.backends, args.layer,
                      args.batch_size)
    report["model"], report["data"] = args.model, source
    write(args.out or args.model[:-len(".keras")] + "_eval", report, markdown(report))
    return 0


def write(stem, report, table):
    """Write STEM.json and STEM.md, and print the table."""
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"Wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    sys.exit(main())
