"""Draw every figure that README and the documentation show, from the shipped model and its
phantom examples (made by train/phantoms.py), so a figure is redrawn when the code changes:

    python -m docs.figures --out docs/figures            # methods grid, layer sweep, metrics
    python -m docs.figures --out docs/figures --demo     # also the demo, and README's overview
    python -m docs.figures --out docs/figures --only audit   # the shortcut audit (trains 2 models)

methods.png: every method on the shipped example models/examples/opacity/2024_00001.png with
its lesion outlined in white (and each alone in methods/NAME.png, for the methods page);
layers.png: Grad-CAM from shallow to deep layers; metrics.png: deletion and insertion curves of
three methods. audit.png (`--only audit`, a few minutes: it trains two tiny CNNs on the same
64-pixel phantoms, one with burned-in "AP" text on most opacity films, and audits both with
their lung masks): each model's mean maps, and the shortcut model's proof, a normal film before
and after the audit's box is pasted onto it from an opacity film. demo.png (--demo): the demo's Explain tab after explaining the same example,
taken with Debian's chromium through Playwright; overview.png: methods.png beside demo.png,
README's figure. `--seed S` draws the figures on a fresh phantom instead of the example.

It lives in docs/, not cams/, because it uses the phantom generator (train/) and the demo.
"""
import argparse
import os
import sys

MODEL = "models/xray_phantoms.keras"
EXAMPLE = "opacity/2024_00001"  # models/examples/<EXAMPLE>.png, its mask in models/examples/masks/
FIGURES = ("methods", "layers", "metrics", "audit")
DEFAULT = ("methods", "layers", "metrics")    # audit trains two models: asked for by name


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures", help="folder for the PNGs")
    parser.add_argument("--model", default=MODEL, help="a .keras model with its .json card")
    parser.add_argument("--example", default=EXAMPLE,
                        help="a shipped example, CLASS/NAME under models/examples")
    parser.add_argument("--seed", type=int,
                        help="draw on a fresh phantom of this seed instead of the example")
    parser.add_argument("--methods", default=None,
                        help="comma-separated names in cams.METHODS (default: all)")
    parser.add_argument("--only", default=",".join(DEFAULT),
                        help=f"comma-separated figures among {', '.join(FIGURES)}")
    parser.add_argument("--demo", action="store_true",
                        help="also screenshot the demo (needs chromium and playwright)")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s) {sorted(unknown)}; choose among {', '.join(FIGURES)}")
    return args


def lesion_phantom(seed, size):
    """(uint8 RGB (size, size, 3), bool mask (size, size)): one phantom with an opacity."""
    import numpy as np

    from train.phantoms import phantom

    image, mask = phantom(np.random.default_rng(seed), True, size)
    return np.repeat(image[..., None], 3, axis=-1), mask


def shipped_example(name, size):
    """(uint8 RGB (size, size, 3), bool mask (size, size)) of models/examples/<name>.png."""
    from cams.io import images

    rgb = images.read_image(os.path.join("models", "examples", f"{name}.png"), size)
    return rgb, images.read_mask(os.path.join("models", "examples", "masks", f"{name}.png"),
                                 size)


def outlined(rgb, mask):
    """`rgb` (H, W, 3) uint8 with the outline of `mask` drawn in white, a copy."""
    import cv2
    import numpy as np

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(rgb.copy(), contours, -1, (255, 255, 255), 1)


def save_small(image, path):
    """Save a PIL image as a 256-colour PNG (a third of the bytes, the same look); returns path."""
    image.convert("RGB").quantize(256, dither=0).save(path, optimize=True)
    return path


def _shrunk(path):
    """Re-save the PNG at `path` with 256 colours; returns path."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
    return save_small(image, path)


def _grid(panels, columns, path, title=None):
    """Save (caption, RGB image) panels as a grid PNG at `path`; returns path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.05 * rows + 0.3 * bool(title)))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (caption, image) in zip(axes.ravel(), panels):
        ax.imshow(image)
        ax.set_title(caption, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return _shrunk(path)


def methods_figure(model, card, rgb, mask, methods, path):
    """Every method's overlay on `rgb`, lesion outlined, as one grid at `path` and one PNG per
    method in methods/ beside it; returns path."""
    import cams

    from PIL import Image

    x = card.preprocess(rgb[None].astype("float32"))
    panels = [("phantom, lesion outlined", outlined(rgb, mask))]
    folder = os.path.join(os.path.dirname(path), "methods")
    os.makedirs(folder, exist_ok=True)
    for method in methods:
        res = cams.explain(model, x, layer=card.cam_layer, method=method)
        panels.append((method, outlined(cams.overlay(rgb, res.heatmaps[0], alpha=0.45), mask)))
        save_small(Image.fromarray(panels[-1][1]), os.path.join(folder, f"{method}.png"))
    return _grid(panels, 4, path)


def layers_figure(model, card, rgb, mask, path, count=6):
    """Grad-CAM at `count` layers from shallow to deep, lesion outlined; returns path."""
    import numpy as np

    import cams

    x = card.preprocess(rgb[None].astype("float32"))
    paths = cams.conv_layers(model)
    chosen = [paths[i] for i in np.linspace(len(paths) // 4, len(paths) - 1, count).astype(int)]
    panels = []
    for layer in chosen:
        res = cams.explain(model, x, layer=layer)
        h, w = res.heatmaps.shape[1:]
        panels.append((f"{layer.split('/')[-1]} ({h}x{w})",
                       outlined(cams.overlay(rgb, res.heatmaps[0], alpha=0.45), mask)))
    return _grid(panels, count, path)


def metrics_figure(model, card, rgb, methods, path, steps=16):
    """Deletion and insertion curves of `methods` on `rgb`; returns path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import cams
    from cams.metrics import deletion_insertion

    x = card.preprocess(rgb[None].astype("float32"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    shares = np.linspace(0, 1, steps + 1)
    for method in methods:
        res = cams.explain(model, x, layer=card.cam_layer, method=method)
        curves = deletion_insertion(model, x, res.heatmaps, res.class_index, steps=steps)
        for ax, kind in zip(axes, ("deletion", "insertion")):
            ax.plot(shares, curves[f"{kind}_curve"][0],
                    label=f"{method} (AUC {curves[kind][0]:.2f})")
    for ax, kind, better in zip(axes, ("deletion", "insertion"), ("lower", "higher")):
        ax.set_title(f"{kind}: AUC {better} is better", fontsize=10)
        ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'painted in'}")
        ax.set_ylabel("class probability")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return _shrunk(path)


def train_audit_pair(folder, size=64, n_train=600, epochs=12, seed=0, n_audit=200,
                     kind="text"):
    """Train a clean and a shortcut tiny CNN (train.audit_models') on the same phantoms, the
    shortcut one with a marker of `kind` (burned-in "AP" text by default) at the top right of
    90% of its opacity films; save each with its card and write n_audit phantoms to audit it
    on, marked like its training set. Returns {"clean": (model path, set folder),
    "shortcut": (...)}."""
    from cams.io import modelcard
    from train import audit_benchmark as bench, audit_models, phantoms

    marker = phantoms.Shortcut(kind, "opacity", 0.9, "top-right")
    x, y = bench.Films("phantoms").base(n_train, seed * 100 + 1, size)
    out = {}
    for name, shortcut in (("clean", None), ("shortcut", marker)):
        model = audit_models.train("cnn4", bench.marked(x, y, shortcut, seed), y, seed,
                                   epochs)
        path = os.path.join(folder, f"{name}.keras")
        model.save(path)
        modelcard.write(path, modelcard.ModelCard(phantoms.CLASSES, (size, size, 3), "none",
                                                  "conv3"))
        data = os.path.join(folder, f"{name}-set")
        phantoms.write_set(data, n_audit, seed * 100 + 3, size, progress=False,
                           shortcut=shortcut)
        out[name] = (path, data)
    return out


def audit_figure(models, path):
    """The audit of each model in `models` (train_audit_pair's dict), without masks, one
    row each: its verdict and mean map per predicted class (with the box a suspected shortcut rests
    on) and, for a suspected shortcut, a film of the other class before and after that box is
    pasted onto it from a film of the box's class, with the model's probability of that class.
    Returns path."""
    import numpy as np

    from cams.io import modelcard, overlays
    from cams.audit import audit, evidence, figures
    from cams.audit.pipeline import predictor

    panels = []
    for name, (model_path, data) in models.items():
        found = audit(model_path, data)
        result = found.result
        best = result["findings"][0] if result["findings"] else None
        row = []
        for c, cls in enumerate(found.class_names):
            where = found.predicted == c
            if not where.any():
                continue
            rows = np.nonzero(where)[0]
            heat = evidence.mean_map(found.maps, rows)
            mean_image = evidence.mean_image(found.data.images, rows)
            box = best["region"] if best and best["class"] == cls else None
            row.append((f"mean map of {int(where.sum())} films\npredicted {cls}",
                        figures.thumb(overlays.overlay(mean_image, heat, alpha=0.5), box)))
        if best:
            tried = next(t for t in found.tried if t["class_name"] == best["class"]
                         and list(t["region"]) == list(best["region"]))
            j = tried["transplanted"][0]
            before, after = found.data.images[j], tried["after_transplanted"][0]
            model, card = modelcard.load(model_path)
            k = list(found.class_names).index(best["class"])
            p = predictor(model, card.preprocess)(np.stack([before, after]))[:, k]
            row += [(f"a {found.class_names[found.predicted[j]]} film:\n"
                     f"p({best['class']}) = {p[0]:.2f}", figures.thumb(before, tried["changed"])),
                    (f"the box pasted from an\n{best['class']} film: {p[1]:.2f}",
                     figures.thumb(after, tried["changed"]))]
        verdict = f"{name} model\n{result['verdict']} ({result['score']:.2f})"
        row[0] = (f"{verdict}\n{row[0][0]}", row[0][1])
        blank = np.full_like(row[0][1], 255)
        panels += row + [("", blank)] * (4 - len(row))
    return _grid(panels, 4, path)


def overview_figure(methods_path, demo_path, path):
    """README's figure: the methods grid and the demo's screenshot side by side, at the grid's
    height; returns path."""
    from PIL import Image

    with Image.open(methods_path) as grid, Image.open(demo_path) as demo:
        grid, demo = grid.convert("RGB"), demo.convert("RGB")
        demo = demo.resize((round(demo.width * grid.height / demo.height), grid.height),
                           Image.LANCZOS)
        canvas = Image.new("RGB", (grid.width + 12 + demo.width, grid.height), "white")
        canvas.paste(grid, (0, 0))
        canvas.paste(demo, (grid.width + 12, 0))
    return save_small(canvas, path)


def demo_figure(path, example=EXAMPLE, timeout=240):
    """A screenshot of the demo's Explain tab after explaining the shipped example `example`
    (CLASS/NAME, the demo's button "CLASS NAME"); returns path.
    Starts `python demo.py` on a free port and stops it afterwards."""
    import shutil
    import socket
    import subprocess
    import time
    import urllib.request

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("the demo screenshot needs Debian's chromium: apt-get install chromium")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "demo.py", "--port", str(port)],
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit(f"demo.py did not serve {url} within {timeout} s")
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="networkidle", timeout=60_000)
            page.get_by_text(example.replace("/", " "), exact=True).click()  # lesion known
            page.locator("#xray-input-preview img").first.wait_for(timeout=60_000)
            page.locator("#explain-button").click()
            page.locator("#overlay img").nth(1).wait_for(timeout=120_000)
            page.locator("#timing").get_by_text(" ms").wait_for(timeout=60_000)
            box = page.locator("#overlay img").nth(1).bounding_box()  # show most of the overlay
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(500)
            page.screenshot(path=path)
            browser.close()
        _shrunk(path)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return path


def main(argv=None):
    args = parse(argv)
    import cams
    from cams.io import modelcard

    os.makedirs(args.out, exist_ok=True)
    model, card = modelcard.load(args.model)
    methods = args.methods.split(",") if args.methods else list(cams.METHODS)
    size = card.input_size[0]
    rgb, mask = (shipped_example(args.example, size) if args.seed is None
                 else lesion_phantom(args.seed, size))
    written = []
    only = args.only.split(",")
    if "methods" in only:
        written.append(methods_figure(model, card, rgb, mask, methods,
                                      os.path.join(args.out, "methods.png")))
    if "layers" in only:
        written.append(layers_figure(model, card, rgb, mask, os.path.join(args.out, "layers.png")))
    if "metrics" in only:
        chosen = [m for m in ("gradcam", "scorecam", "eigencam") if m in methods] or methods[:1]
        written.append(metrics_figure(model, card, rgb, chosen,
                                      os.path.join(args.out, "metrics.png")))
    if "audit" in only:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            written.append(audit_figure(train_audit_pair(tmp),
                                        os.path.join(args.out, "audit.png")))
    if args.demo:
        written.append(demo_figure(os.path.join(args.out, "demo.png"), args.example))
    grid, demo = (os.path.join(args.out, name) for name in ("methods.png", "demo.png"))
    if os.path.isfile(grid) and os.path.isfile(demo):
        written.append(overview_figure(grid, demo, os.path.join(args.out, "overview.png")))
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
