"""What the trust report costs against its floor: `python -m cams.bench --report`.

The floor is the time of as many forward passes as the report runs (its JSON's
forward_passes: every image it sends through the model, the metrics' perturbed copies,
Score-CAM's masked ones and the gradient methods' own), timed at the report's batch size with
the model's own compiled forward pass in the same process. With --quick the quick preset runs
too: its share of the passes, and whether it ranks the methods as the full report does
(Spearman's rho of the methods' values on each metric).
"""
import json
import os
import time

import numpy as np

# the report's columns that rank methods (its costs are not compared)
_NOT_RANKED = ("seconds_per_image", "forward_passes", "gradient_passes")


def forward_seconds_per_image(model, x, batch_size, repeats=20):
    """Seconds per image of the model's compiled forward pass (cams.forward) on a batch of
    batch_size images drawn from x: the median of `repeats` timed batches."""
    from cams.forward import forward_pass, median_seconds

    _, forward = forward_pass(model)
    batch = np.resize(x, (batch_size,) + x.shape[1:]).astype(np.float32)
    return median_seconds(lambda: forward(batch), repeats) / batch_size


def _run_report(argv, out):
    """(the report's JSON, its wall seconds) for cams.report's arguments, written at `out`."""
    from cams import report

    start = time.perf_counter()
    code = report.main(argv + ["--out", out])
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"python -m cams.report {' '.join(argv)} exited with {code}")
    with open(out + ".json") as f:
        return json.load(f), seconds


def rank_agreement(full, quick):
    """{metric: Spearman's rho of the methods' values in two reports' method tables}, over the
    methods both scored; metrics with fewer than 3 methods or one value everywhere are left
    out (no ranking to compare)."""
    from scipy.stats import spearmanr

    methods = [m for m in full
               if "error" not in full[m] and "error" not in quick.get(m, {"error": ""})]
    found = {}
    for metric in sorted({k for m in methods for k in full[m]} - set(_NOT_RANKED)):
        pairs = [(full[m][metric], quick[m][metric]) for m in methods
                 if metric in full[m] and metric in quick[m]]
        a, b = (np.asarray(v, np.float64) for v in zip(*pairs)) if pairs else ([], [])
        if len(pairs) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
            found[metric] = float(spearmanr(a, b).statistic)
    return found


def run(model, data, out, report_args=(), quick=False):
    """{"full": {...}, "quick": {...} (with --quick), "forward_s_per_image", "batch_size",
    "agreement": {metric: rho}}: each run's forward_passes, gradient_passes, floor_s, wall_s
    and ratio to the floor."""
    from cams import report

    os.makedirs(out, exist_ok=True)
    argv = ["--model", model, "--data", data, *report_args]
    args = report.parse(argv)
    model_obj, card, rgb = report.load(args)[:3]
    x = card.preprocess(rgb.astype(np.float32))
    per_image = forward_seconds_per_image(model_obj, x, args.batch_size)
    found = {"forward_s_per_image": per_image, "batch_size": args.batch_size,
             "n_images": int(len(x))}
    tables = {}
    for name, extra in (("full", []), ("quick", ["--quick"]))[:1 + bool(quick)]:
        saved, wall = _run_report(argv + extra, os.path.join(out, name))
        floor = saved["forward_passes"] * per_image
        found[name] = {"forward_passes": saved["forward_passes"],
                       "gradient_passes": saved["gradient_passes"], "floor_s": floor,
                       "wall_s": wall, "ratio": wall / floor}
        tables[name] = saved["methods"]
    if quick:
        found["quick"]["share_of_passes"] = (found["quick"]["forward_passes"]
                                             / found["full"]["forward_passes"])
        found["agreement"] = rank_agreement(tables["full"], tables["quick"])
    return found


def table(found):
    """The runs against their floors, then the quick preset's agreement, as Markdown."""
    lines = [f"{found['n_images']} images; forward pass {found['forward_s_per_image'] * 1e3:.1f} "
             f"ms per image at batch {found['batch_size']}", "",
             "| report | forward passes (of which differentiated) | floor (s) | wall (s) "
             "| wall / floor |", "|---|---:|---:|---:|---:|"]
    for name in ("full", "quick"):
        if name in found:
            r = found[name]
            lines.append(f"| {name} | {r['forward_passes']:,} ({r['gradient_passes']:,}) "
                         f"| {r['floor_s']:.1f} | {r['wall_s']:.1f} | {r['ratio']:.2f} |")
    if "agreement" in found:
        lines += ["", f"quick: {found['quick']['share_of_passes']:.1%} of the full report's "
                  "passes; Spearman's rho of the methods' ranking on each metric:", "",
                  "| metric | rho |", "|---|---:|"]
        lines += [f"| {m} | {rho:.2f} |" for m, rho in found["agreement"].items()]
    return "\n".join(lines)
