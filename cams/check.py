"""The consistency check to run on your own model before you deploy it: every method in every
backend that has it, on your images, compared pair by pair.

    python -m cams.check --model models/mine.keras [--images DIR] [--layer L]
    python -m cams.check --model models/mine.keras --keras-backends tensorflow,jax,torch

Images: every image file under DIR, DICOM included (read as RGB at the model's input size,
then its card's preprocessing), or, without --images, seeded random images. Each method is computed in each backend with the same options (where tf-keras-vis fixes
an option, all three use its value), for each image's predicted class. Prints a table (method x
backend: largest difference to the other backends, every map non-degenerate, ms per image),
says which methods a backend does not compute and why, and exits 1 when two backends differ by
more than the tolerance or a map is degenerate (all zero or constant), 2 when the model or the
images cannot be read.

With --keras-backends, the model runs under each of those Keras backends (each installed one,
in its own process: Keras' backend is fixed when it is first imported), and one table compares
the maps of every cams backend of every Keras backend (eager, graph, tf-keras-vis; jax; torch).
"""
import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import cams
from cams.io.sources import IMAGE_TYPES


def parse(argv=None):
    """The command line's arguments (parsed before TensorFlow loads, so --help is instant)."""
    parser = argparse.ArgumentParser(prog="python -m cams.check", description=" ".join(
        __doc__.split("\n\n")[0].split()))
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
                        help="Score-CAM's and Ablation-CAM's channels (each costs one forward "
                             "pass)")
    parser.add_argument("--keras-backends", type=_keras_backends,
                        help="comma-separated Keras backends to run the model in, each in its "
                             "own process, e.g. tensorflow,jax,torch")
    parser.add_argument("--save-to", help=argparse.SUPPRESS)  # a --keras-backends child's dir
    args = parser.parse_args(argv)
    if args.max_images < 1 or args.scorecam_top_k < 1:
        parser.error("--max-images and --scorecam-top-k must be at least 1")
    if not args.tolerance >= 0:
        parser.error(f"--tolerance must be a number >= 0; got {args.tolerance}")
    return args


KERAS_BACKENDS = {"tensorflow": ("TensorFlow", "the package's own dependency"),
                  "jax": ("JAX", "pip install .[jax]"),
                  "torch": ("PyTorch", "pip install .[torch]")}


def _keras_backends(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KERAS_BACKENDS]
    if unknown or not names:
        given = ", ".join(unknown) if unknown else repr(text)
        raise argparse.ArgumentTypeError(f"unknown Keras backend(s) {given}; choose from "
                                         f"{', '.join(KERAS_BACKENDS)}")
    return list(dict.fromkeys(names))


def read_images(folder, size, limit):
    """Up to `limit` images under `folder` as uint8 RGB (N, H, W, 3) for size (H, W) (or an int,
    square), sorted by path."""
    from cams.io import images

    paths = sorted(p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                   if p.lower().endswith(IMAGE_TYPES) and os.sep + images.MASKS_DIR + os.sep
                   not in p)
    found = [im for im in (_read(p, size) for p in paths) if im is not None][:limit]
    if not found:
        raise ValueError(f"no readable image under {folder} (accepted: "
                         f"{', '.join(IMAGE_TYPES)})")
    return np.stack(found)


def _read(path, size):
    from cams.io import images

    try:
        return images.read_image(path, size)
    except images.BadFile:
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
    if method in ("scorecam", "ablationcam"):   # a forward pass per channel: the top k only
        options["top_k"] = top_k
    return options


def degenerate(heatmaps):
    """True when a map is all zero, not finite or constant (agreement would mean nothing)."""
    flat = heatmaps.reshape(len(heatmaps), -1)
    return bool(~np.isfinite(flat).all() or (flat.max(axis=1) < 1 - 1e-6).any()
                or (flat.std(axis=1) < 1e-3).any())


def run(model, x, layer, methods, top_k):
    """{method: {backend: row}}; a row has heatmaps, ms_per_image and degenerate, or reason.
    Every backend explains the classes the first one predicted: two near-equal probabilities
    (a seeded untrained model's) could otherwise be ordered differently by two backends, which
    would then explain two different classes."""
    table, classes = {}, None
    for method in methods:
        table[method] = {}
        for backend in cams.BACKENDS:
            options = options_for(method, top_k)
            first = None if classes is None else classes[:1]
            try:  # the first call traces and builds: it is not what is timed
                cams.explain(model, x[:1], layer=layer, method=method, backend=backend,
                             class_index=first, **options)
            except ValueError as err:  # this backend does not compute it: say why
                table[method][backend] = {"reason": str(err)}
                continue
            start = time.perf_counter()
            res = cams.explain(model, x, layer=layer, method=method, backend=backend,
                               class_index=classes, **options)
            classes = res.class_index if classes is None else classes
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
    if len(lines) == 2:  # no row: nothing was compared, which is no pass
        lines.append("\nNo method computed a map in any backend: nothing was checked.")
        passed = False
    if notes:
        lines += ["", "Not computed:"] + notes
    return "\n".join(lines), passed


def save(table, folder):
    """Write a run's table to `folder` (maps.npz, rows.json) for the parent of --keras-backends."""
    maps, rows = {}, {}
    for method, row in table.items():
        rows[method] = {}
        for backend, r in row.items():
            if "heatmaps" in r:
                maps[f"{method}|{backend}"] = r["heatmaps"]
            rows[method][backend] = {k: v for k, v in r.items() if k != "heatmaps"}
    np.savez(os.path.join(folder, "maps.npz"), **maps)
    with open(os.path.join(folder, "rows.json"), "w") as f:
        json.dump(rows, f)


def _load(folder):
    with open(os.path.join(folder, "rows.json")) as f:
        rows = json.load(f)
    with np.load(os.path.join(folder, "maps.npz")) as maps:
        for method, row in rows.items():
            for backend, r in row.items():
                if "reason" not in r:
                    r["heatmaps"] = maps[f"{method}|{backend}"]
    return rows


def _child_argv(args, folder):
    argv = ["--model", args.model, "--max-images", str(args.max_images),
            "--tolerance", str(args.tolerance), "--scorecam-top-k", str(args.scorecam_top_k),
            "--methods", *args.methods, "--save-to", folder]
    for flag, value in (("--images", args.images), ("--layer", args.layer)):
        if value:
            argv += [flag, value]
    return argv


def across_keras_backends(args):
    """--keras-backends: run this check under each installed Keras backend in a subprocess and
    print one table over all their cams backends; the exit code as main's."""
    table, ran = {}, []
    for name in args.keras_backends:
        library, install = KERAS_BACKENDS[name]
        if importlib.util.find_spec(name) is None:
            print(f"note: Keras backend {name} needs {library}, which is not installed: "
                  f"{install}")
            continue
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "3"}
            done = subprocess.run([sys.executable, "-m", "cams.check", *_child_argv(args, folder)],
                                  env=env, capture_output=True, text=True)
            if done.returncode == 2 or not os.path.exists(os.path.join(folder, "rows.json")):
                print(f"error: under Keras' {name} backend the check could not run:\n"
                      f"{(done.stderr or done.stdout)[-3000:]}", file=sys.stderr)
                return 2
            if not ran:
                print(done.stdout.splitlines()[0])  # the model, layer and images
            for method, row in _load(folder).items():
                table.setdefault(method, {}).update(row)
        ran.append(name)
    if not ran:
        print("error: none of the Keras backends asked for is installed", file=sys.stderr)
        return 2
    print(f"Keras backends: {', '.join(ran)} (one process each)")
    text, passed = markdown(table, args.tolerance)
    print(text)
    print("PASS: every backend agrees and every map is non-degenerate" if passed else
          "FAIL: see the rows marked FAIL")
    return 0 if passed else 1


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.keras_backends:
        return across_keras_backends(args)
    from cams.io import modelcard

    try:
        model, card = modelcard.load(args.model)
        size = tuple(card.input_size)
        rgb = (read_images(args.images, size[:2], args.max_images) if args.images
               else random_images(size[:2] + (3,), args.max_images))
        layer = cams.resolve_layer(model, args.layer or card.cam_layer).path
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    x = card.preprocess(rgb.astype(np.float32))
    source = args.images or f"{len(x)} seeded random images"
    print(f"{args.model}: layer {layer}, {len(x)} images ({source}), predicted classes, "
          f"tolerance {args.tolerance:g}")
    table = run(model, x, layer, args.methods, args.scorecam_top_k)
    if args.save_to:
        save(table, args.save_to)
    text, passed = markdown(table, args.tolerance)
    print(text)
    print("PASS: every backend agrees and every map is non-degenerate" if passed else
          "FAIL: see the rows marked FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
