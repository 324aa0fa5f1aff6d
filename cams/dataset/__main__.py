"""python -m cams.dataset --model M --data DIR|FILE.csv --out OUT: explain every image.

Writes OUT/maps.zarr (heatmaps float16 at the layer's resolution, probabilities, ...) and
OUT/index.csv / index.parquet (one row per image, in the arrays' order). A stopped run
(Ctrl-C, a crash, a killed machine) continues where it stopped when the same command is run
again; unreadable files are skipped with one warning each and listed in the index.
"""
import argparse
import os
import sys

CLASSES_HELP = ("which class each map explains: the predicted one, the labelled one (the class "
                "folder or the CSV's label column), or all (every class, or every label of a "
                "multi-label head, in one pass)")


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    from cams.dataset.step import CLASS_CHOICES

    p = argparse.ArgumentParser(prog="python -m cams.dataset", description=__doc__.splitlines()[0],
                                epilog="Needs the [dataset] extra: pip install '.[dataset]'.")
    p.add_argument("--model", required=True, help="a .keras/.h5 file or a SavedModel folder "
                   "(its NAME.json card beside it names classes, preprocessing and layer)")
    p.add_argument("--data", required=True, help="a folder (DIR/<class>/<image> or images) or "
                   "a CSV with a 'path' column and optionally 'label'")
    p.add_argument("--out", required=True, help="the output folder (created, or continued)")
    p.add_argument("--csv-root", help="folder a CSV's paths are relative to (default: the CSV's)")
    p.add_argument("--method", default="gradcam", help="a name in cams.METHODS")
    p.add_argument("--backend", help="a name in cams.BACKENDS (default: the first, which is "
                   "the running Keras backend's)")
    p.add_argument("--layer", help="the CAM layer (default: the card's, else the last spatial)")
    p.add_argument("--classes", choices=CLASS_CHOICES, default="predicted", help=CLASSES_HELP)
    p.add_argument("--score", choices=("logit", "probability"), help="default: the method's")
    p.add_argument("--top-k", type=int, help="Score-CAM: only the k strongest channels")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=4, help="threads decoding files")
    p.add_argument("--overlays", action="store_true", help="also write OUT/overlays/*.png")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="the Ray cluster's address (default: start a local one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.workers < 1:
        p.error("--batch-size and --workers must be at least 1")
    return args


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cams.dataset.run import explain_dataset

    try:
        counts = explain_dataset(
            args.model, args.data, args.out, method=args.method, backend=args.backend,
            layer=args.layer, classes=args.classes, score=args.score,
            options={"top_k": args.top_k} if args.top_k else None,
            batch_size=args.batch_size, workers=args.workers, overlays=args.overlays,
            engine_name=args.engine, address=args.address, progress=not args.no_progress,
            csv_root=args.csv_root)
    except (FileNotFoundError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"{args.out}: {counts['ok']} explained ({counts['explained_now']} in this run), "
          f"{counts['unreadable']} unreadable, {counts['pending']} left; "
          f"maps in {os.path.join(args.out, 'maps.zarr')}, rows in "
          f"{os.path.join(args.out, 'index.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
