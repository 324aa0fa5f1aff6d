"""The consistency check to run on your own model before you deploy it: every method in every
backend that has it, on your images, compared pair by pair.

    python -m cams.check --model models/mine.keras [--images DIR] [--layer L]

Images: every image file under DIR, DICOM included (read as RGB at the model's input size,
then its card's preprocessing), or, without --images, seeded random images. Each method is computed in each backend with the same options (where tf-keras-vis fixes
an option, all three use its value), for each image's predicted class. Prints a table (method x
backend: largest difference to the other backends, every map non-degenerate, ms per image),
says which methods a backend does not compute and why, and exits 1 when two backends differ by
more than the tolerance or a map is degenerate (all zero or constant), 2 when the model or the
images cannot be read.
"""
import argparse
import glob
import os
import sys
import time

import numpy as np

import cams
from cams.dataset.sources import IMAGE_TYPES


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True,
                        help="a .keras or .h5 file, or a SavedModel folder (its NAME.json card "
                             "beside it gives the preprocessing and layer)")
    parser.add_argument("--images", help="a folder of images (searched recursively); default: "
                                         "seeded random images")
    parser.add_argument("--layer", help="the layer to explain (default: the card's, else the "
                                        "last spatial layer)")
    parser.add_argument("--max-images", type=int, default=4)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--methods", nargs="+", choices=list(cams.METHODS),
                        default=list(cams.METHODS))
    parser.add_argument("--scorecam-top-k", type=int, default=16,
                        help="Score-CAM's channels (its cost is one forward pass each)")
    return parser.parse_args(argv)


def read_images(folder, size, limit):
    """Up to `limit` images under `folder` as uint8 RGB (N, size, size, 3), sorted by path."""
    from cams import images

    paths = sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                   if p.lower().endswith(IMAGE_TYPES) and os.sep + images.MASKS_DIR + os.sep
                   not in p)
    found = [im for im in (_read(p, size) for p in paths) if im is not None][:limit]
    if not found:
        raise ValueError(f"no readable image under {folder} (accepted: "
                         f"{', '.join(IMAGE_TYPES)})")
    return np.stack(found)


def _read(path, size):
    from cams.dataset import sources

    try:
        return sources.read(path, size)
    except sources.BadFile:
        return None


def random_images(shape, n, seed=0):
    """n seeded smooth random RGB images in [0, 255], uint8 (n, H, W, 3)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w, c = shape
    coarse = rng.uniform(0, 255, (n, 8, 8, c)).astype(np.float32)
    return np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, c)
                     for im in coarse]).clip(0, 255).astype(np.uint8)


def options_for(method, top_k):
    """One set of options every backend can take: tf-keras-vis' where it fixes one."""
    options = dict(cams.conventions("tf-keras-vis").get(method, {}))
    if method == "scorecam":
        options["top_k"] = top_k
    return options


def degenerate(heatmaps):
    """True when a map is all zero, not finite or constant (agreement would mean nothing)."""
    flat = heatmaps.reshape(len(heatmaps), -1)
    return bool(~np.isfinite(flat).all() or (flat.max(axis=1) < 1 - 1e-6).any()
                or (flat.std(axis=1) < 1e-3).any())


def run(model, x, layer, methods, top_k):
    """{method: {backend: row}}; a row has heatmaps, ms_per_image and degenerate, or reason."""
    table = {}
    for method in methods:
        table[method] = {}
        for backend in cams.BACKENDS:
            options = options_for(method, top_k)
            try:  # the first call traces and builds: it is not what is timed
                cams.explain(model, x[:1], layer=layer, method=method, backend=backend, **options)
            except ValueError as err:  # this backend does not compute it: say why
                table[method][backend] = {"reason": str(err)}
                continue
            start = time.perf_counter()
            res = cams.explain(model, x, layer=layer, method=method, backend=backend, **options)
            table[method][backend] = {
                "heatmaps": res.heatmaps, "degenerate": degenerate(res.heatmaps),
                "ms_per_image": 1000 * (time.perf_counter() - start) / len(x)}
    return table


def differences(row):
    """{backend: largest |map - map of another backend|} over the backends that computed it."""
    done = {b: r["heatmaps"] for b, r in row.items() if "heatmaps" in r}
    return {b: max((float(np.abs(h - other).max()) for o, other in done.items() if o != b),
                   default=float("nan")) for b, h in done.items()}


def markdown(table, tolerance):
    """The table and the list of what does not apply, as Markdown; and whether all passed."""
    lines = ["| method | backend | max diff to others | non-degenerate | ms/image |",
             "|---|---|---:|:-:|---:|"]
    notes, passed = [], True
    for method, row in table.items():
        diff = differences(row)
        for backend, r in row.items():
            if "reason" in r:
                notes.append(f"- {method} in {backend}: {r['reason']}")
                continue
            bad = diff[backend] > tolerance or r["degenerate"]
            passed &= not bad
            lines.append(f"| {method} | {backend} | {diff[backend]:.1e} | "
                         f"{'no' if r['degenerate'] else 'yes'} | {r['ms_per_image']:.0f} |"
                         + (" **FAIL**" if bad else ""))
    if notes:
        lines += ["", "Not computed:"] + notes
    return "\n".join(lines), passed


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cams import modelcard

    try:
        model, card = modelcard.load(args.model)
        size = tuple(card.input_size)
        rgb = (read_images(args.images, size[0], args.max_images) if args.images
               else random_images(size[:2] + (3,), args.max_images))
        layer = cams.resolve_layer(model, args.layer or card.cam_layer).path
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    x = card.preprocess(rgb.astype(np.float32))
    source = args.images or f"{len(x)} seeded random images"
    print(f"{args.model}: layer {layer}, {len(x)} images ({source}), predicted classes, "
          f"tolerance {args.tolerance:g}")
    text, passed = markdown(run(model, x, layer, args.methods, args.scorecam_top_k),
                            args.tolerance)
    print(text)
    print("PASS: every backend agrees and every map is non-degenerate" if passed else
          "FAIL: see the rows marked FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
