"""python -m cams.audit --model M --data DIR --out OUT [--roi ROI_DIR] [--fail-on-shortcut]

Audits a model for shortcuts on a class-per-folder set, a plain folder or a CSV of paths:
prints the verdict in one line (and, when it is inconclusive, why), writes OUT/audit.json and
OUT/report.html. Exit status: 0; with --fail-on-shortcut 1 when a shortcut is suspected and 3
when the audit is inconclusive; 2 when the model or the data cannot be used (nothing is written
then).
"""
import argparse
import os
import sys

from cams.io.preprocessing import PREPROCESSING


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    p = argparse.ArgumentParser(prog="python -m cams.audit", description=" ".join(
        __doc__.split("\n\n")[1].split()))
    p.add_argument("--model", required=True, help="a .keras or .h5 file or a SavedModel folder "
                   "(its NAME.json card gives the preprocessing, layer and class names)")
    p.add_argument("--data", required=True, help="DIR/<class>/<image>, a folder of images, or "
                   "a CSV with a 'path' column (and optionally 'label')")
    p.add_argument("--out", required=True, help="folder for audit.json and report.html")
    p.add_argument("--roi", help="masks of where the evidence should be, mirroring the data: "
                   "ROI_DIR/<the image's path as the data lists it>, else ROI_DIR/<class>/<file "
                   "name>, else ROI_DIR/<file name>; the image's size, bright inside (0/1 or 0/255)")
    p.add_argument("--method", help="a name in cams.METHODS (default: hirescam, which the "
                   "benchmark favours with and without masks; see docs/audit-benchmark.md)")
    p.add_argument("--layer", help="the layer to explain (default: the card's, else the last "
                   "spatial one)")
    p.add_argument("--class-names", help="the model's classes in output order, comma-separated "
                   "(default: the card's; without one, the data's class folders in sorted order "
                   "when they are as many)")
    p.add_argument("--preprocess", help="the model's preprocessing by name (default: the "
                   "card's, else pixels 0..255 as they are): " + ", ".join(PREPROCESSING))
    p.add_argument("--max-images", type=int, help="refuse a dataset larger than this")
    p.add_argument("--fail-on-shortcut", action="store_true",
                   help="exit 1 when a shortcut is suspected and 3 when the audit is "
                   "inconclusive (a CI gate that cannot be passed by an audit that could not "
                   "tell)")
    return p.parse_args(argv)


def line(result):
    """The verdict in one line."""
    text = f"{result['verdict']} (score {result['score']:.2f}, {result['images']} images"
    if result["skipped"]:
        text += f", {len(result['skipped'])} unreadable skipped (listed in audit.json)"
    if result["findings"]:
        f = result["findings"][0]
        text += (f"; class {f['class']}: region {f['region']} holds the evidence of "
                 f"{f['images']} images, removing it flips {_pct(f['flip_rate_removed'])}, "
                 f"pasting it flips {_pct(f['flip_rate_transplanted'])}")
    return text + ")"


def _pct(rate):
    return "n/a" if rate is None else f"{rate:.0%}"


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cams.audit.pipeline import audit

    try:
        found = audit(args.model, args.data, args.out, args.roi, method=args.method,
                      layer=args.layer, max_images=args.max_images,
                      preprocess=args.preprocess,
                      class_names=args.class_names and [
                          n.strip() for n in args.class_names.split(",")])
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = found.result
    for note in result["notes"]:   # defaults assumed, a test that could not run
        print(f"note: {note}")
    print(line(result))
    for reason in result["reasons"]:
        print(f"inconclusive: {reason}")
    print(f"wrote {os.path.join(args.out, 'audit.json')} and report.html; steps: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in result["timings_s"].items()))
    return exit_status(result, args.fail_on_shortcut)


def exit_status(result, gate):
    """0; with the gate 1 for a suspected shortcut and 3 for an inconclusive audit."""
    if not gate:
        return 0
    return {"shortcut suspected": 1, "inconclusive": 3}.get(result["verdict"], 0)


if __name__ == "__main__":
    sys.exit(main())
