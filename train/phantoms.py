"""Synthetic chest radiographs (PA view) with the true mask of every lesion.

A phantom is drawn in attenuation units (air dark, bone bright): body outline and soft tissue,
two lung fields cut by the diaphragm domes, vascular markings, heart shadow, spine, posterior
ribs and clavicles; then a small random pose (shift, rotation, scale), blur, exposure and
contrast, and noise. Class "opacity" adds 1-3 patchy, textured opacities inside the lungs and
returns their pixel mask; class "normal" has none.

    python -m train.phantoms --out DIR --n 2000 --seed S [--marker KIND --marker-class C
                             --marker-share P --marker-place PLACE --marker-masks MDIR]
writes DIR/normal/*.png, DIR/opacity/*.png, DIR/masks/opacity/*.png (lesion masks) and
DIR/roi/<class>/*.png (the lung fields of every image), all under the same file names.

A planted shortcut (`Shortcut`) burns a marker into a share of one class's images, as
collections do with laterality markers, text labels and borders (DeGrave et al. 2021): a corner
glyph, a text-like label strip, a partial border or burned-in text ("AP", in a Hershey font);
or one of the artificial confounders of Sun, Koch and Baumgartner (MICCAI 2023): a bright
"hyperintensity" disc, a dark "obstruction" patch that hides what is under it (their "tag" is
our "text"); or a "ruler" strip with tick marks. A marker sits near one of the image's corners
or on the body (PLACES: "left-lung" and "right-lung" on the image's sides, as in the corner
names, "heart" on the heart shadow's left border, half over the lung), drawn after the pose so
that it sits in the same place on every film; a bright marker over a saturated part of a film
changes nothing there. The base images do not depend on the marker: a contaminated set is
the clean set of the same seed with markers added. DIR/shortcut.json records the marker, its
zone (the box every placement falls in) and the images that carry it; with --marker-masks the
pixels each marker changed are written to MDIR/<class>/*.png.
"""
import argparse
import json
import os
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from cams.io.images import MASKS_DIR, ROI_DIR

CLASSES = ("normal", "opacity")
MARKERS = ("glyph", "label", "border", "text", "hyperintensity", "obstruction", "ruler")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
# Places on the body: the centre of the marker's zone, as fractions of the image (x, y), where
# the phantoms' lung fields and heart lie whatever their small pose. Not the midline: a fifth of
# the spine's and mediastinum's pixels are saturated (at 64 px), where a bright marker is lost.
BODY = {"left-lung": (0.31, 0.42), "right-lung": (0.69, 0.42), "heart": (0.65, 0.64)}
PLACES = CORNERS + tuple(BODY)
# Each marker's box (width, height) as fractions of the image, before its jitter.
MARKER_BOX = {"glyph": (0.11, 0.11), "label": (0.3, 0.07), "border": (0.45, 0.05),
              "text": (0.2, 0.1), "hyperintensity": (0.09, 0.09), "obstruction": (0.14, 0.12),
              "ruler": (0.3, 0.045)}
MARGIN = {"border": 0.0, "ruler": 0.02}  # distance from the image edge at a corner; else 0.04


@dataclass(frozen=True)
class Shortcut:
    """A marker of `kind` (MARKERS) at `place` (PLACES: a corner or a place on the body) on a
    `share` of the images of class `label`."""
    kind: str = "glyph"
    label: str = "opacity"
    share: float = 1.0
    place: str = "top-left"

    def __post_init__(self):
        if self.kind not in MARKERS or self.place not in PLACES or self.label not in CLASSES \
                or not 0 < self.share <= 1:
            raise ValueError(f"a shortcut needs kind in {MARKERS}, place in {PLACES}, label in "
                             f"{CLASSES} and 0 < share <= 1; got {self}")


def _smooth_noise(rng, size, cells):
    """Noise with features about size/cells pixels wide, scaled to [0, 1]."""
    coarse = rng.uniform(size=(cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    field -= field.min()
    return field / max(field.max(), 1e-6)


def _ellipse(size, center, axes, angle=0.0):
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(center[0]), int(center[1])), (int(axes[0]), int(axes[1])), angle,
                0, 360, 1, -1)
    return mask.astype(bool)


def _soft(mask, sigma):
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _lungs(rng, S):
    """Masks of the two lung fields (image left = patient's right), cut below by the domes."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    lungs = []
    for side in (-1, 1):
        cx = S * (0.5 + side * rng.uniform(0.17, 0.2))
        cy = S * rng.uniform(0.44, 0.48)
        ax, ay = S * rng.uniform(0.13, 0.155), S * rng.uniform(0.25, 0.29)
        field = _ellipse(S, (cx, cy), (ax, ay), side * rng.uniform(2, 6))
        # Diaphragm dome: the right one (image left) sits a little higher.
        dome_top = cy + ay * (0.55 if side < 0 else 0.62) + S * rng.uniform(-0.02, 0.02)
        dome = dome_top + S * 0.16 * ((xx - cx) / ax) ** 2
        # Medial edge bends away from the heart on the patient's left (image right).
        medial = (xx - S * 0.5) * side > S * (0.035 if side < 0 else 0.06)
        lungs.append(field & (yy < dome) & medial)
    return lungs


def _ribs(rng, S, canvas):
    """Posterior ribs as bright arcs from the spine outwards, and the two clavicles."""
    ribs = np.zeros((S, S), np.float32)
    thickness = max(2, int(S * 0.014))
    for side in (-1, 1):
        for k in range(10):
            y0 = S * (0.2 + 0.062 * k + rng.uniform(-0.006, 0.006))
            xs = np.linspace(0, 1, 24)
            x = S * 0.5 + side * (S * 0.045 + xs * S * 0.38)
            y = y0 - S * 0.06 * np.sin(np.pi * xs * 0.8) + S * 0.12 * xs ** 2
            pts = np.stack([x, y], axis=1).round().astype(np.int32)
            cv2.polylines(ribs, [pts], False, 1.0, thickness, cv2.LINE_AA)
        start = (S * 0.5 + side * S * 0.05, S * rng.uniform(0.17, 0.2))
        end = (S * 0.5 + side * S * 0.3, S * rng.uniform(0.11, 0.14))
        cv2.line(ribs, tuple(int(v) for v in start), tuple(int(v) for v in end), 1.6,
                 max(3, int(S * 0.028)), cv2.LINE_AA)
    canvas += 0.065 * cv2.GaussianBlur(ribs, (0, 0), S * 0.005)


def _vessels(rng, S, lungs):
    """Faint branching vascular markings fanning out from each hilum."""
    marks = np.zeros((S, S), np.float32)
    for side in (-1, 1):
        hilum = np.array([S * (0.5 + side * 0.09), S * 0.47])
        for _ in range(14):
            angle = rng.uniform(-np.pi * 0.75, np.pi * 0.75) + (0 if side > 0 else np.pi)
            point, width = hilum.copy(), 2.0
            for _ in range(6):
                angle += rng.normal(0, 0.35)
                step = S * rng.uniform(0.025, 0.045) * np.array([np.cos(angle), np.sin(angle)])
                nxt = point + step
                cv2.line(marks, tuple(point.astype(int)), tuple(nxt.astype(int)), 1.0,
                         max(1, int(width)), cv2.LINE_AA)
                point, width = nxt, width * 0.8
    return 0.06 * cv2.GaussianBlur(marks, (0, 0), 1.0) * (lungs[0] | lungs[1])


def _opacities(rng, S, lung_mask, count):
    """Patchy, textured opacities inside the lungs: (attenuation to add, boolean mask)."""
    add = np.zeros((S, S), np.float32)
    mask = np.zeros((S, S), bool)
    ys, xs = np.nonzero(lung_mask)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    for _ in range(count):
        i = rng.integers(len(ys))
        cy, cx = ys[i], xs[i]
        radius = S * rng.uniform(0.05, 0.11)
        blob = np.exp(-(((yy - cy) / radius) ** 2 + ((xx - cx) / (radius * rng.uniform(0.7, 1.3)))
                        ** 2))
        patchy = blob * (0.55 + 0.45 * _smooth_noise(rng, S, rng.integers(10, 24)))
        region = (patchy > 0.35) & lung_mask
        if region.sum() < (S * 0.02) ** 2:
            continue
        density = rng.uniform(0.3, 0.5)
        texture = 0.75 + 0.25 * _smooth_noise(rng, S, rng.integers(24, 48))
        add += density * texture * _soft(region, S * 0.006) * np.clip(patchy * 1.5, 0, 1)
        mask |= region
    return add, mask


def phantom(rng, opacity, size=224):
    """One radiograph as uint8 (size, size) and its lesion mask, bool (size, size)."""
    image, mask, _ = phantom_with_lungs(rng, opacity, size)
    return image, mask


def phantom_with_lungs(rng, opacity, size=224):
    """(radiograph uint8 (size, size), lesion mask bool, lung fields bool (size, size)); the
    same random draws as `phantom`, the lung fields moved by the same pose."""
    S = size
    canvas = np.full((S, S), 0.04, np.float32)
    body = _ellipse(S, (S * 0.5, S * 0.6), (S * rng.uniform(0.44, 0.48), S * 0.55))
    neck = _ellipse(S, (S * 0.5, S * 0.02), (S * 0.11, S * 0.12))
    shoulders = (_ellipse(S, (S * 0.1, S * 0.2), (S * 0.2, S * 0.1), 20)
                 | _ellipse(S, (S * 0.9, S * 0.2), (S * 0.2, S * 0.1), -20))
    canvas += 0.42 * _soft(body | neck | shoulders, S * 0.02)
    lungs = _lungs(rng, S)
    lung_mask = lungs[0] | lungs[1]
    lung_soft = _soft(lung_mask, S * 0.012)
    canvas -= 0.3 * lung_soft * (0.85 + 0.15 * _smooth_noise(rng, S, 6))
    canvas += _vessels(rng, S, lungs)
    heart = _ellipse(S, (S * rng.uniform(0.55, 0.58), S * rng.uniform(0.62, 0.66)),
                     (S * rng.uniform(0.16, 0.19), S * rng.uniform(0.12, 0.15)), -25)
    mediastinum = _ellipse(S, (S * 0.5, S * 0.4), (S * 0.06, S * 0.2))
    canvas += 0.16 * _soft(heart | mediastinum, S * 0.02)
    spine = np.zeros((S, S), np.float32)
    spine[:, int(S * 0.465):int(S * 0.535)] = 1.0
    for y in range(int(S * 0.1), S, max(4, int(S * 0.045))):  # vertebral end plates
        spine[y:y + max(1, S // 160), int(S * 0.46):int(S * 0.54)] = 1.3
    canvas += 0.08 * _soft(spine, S * 0.008) * body
    _ribs(rng, S, canvas)
    mask = np.zeros((S, S), bool)
    if opacity:
        add, mask = _opacities(rng, S, lung_mask, int(rng.integers(1, 4)))
        canvas += add
    canvas, mask, lung_mask = _pose(rng, S, canvas, mask, lung_mask)
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.4, 1.2))
    gamma, contrast = rng.uniform(0.8, 1.25), rng.uniform(0.85, 1.15)
    canvas = np.clip(canvas, 0, None) ** gamma * contrast + rng.uniform(-0.04, 0.04)
    canvas += rng.normal(0, rng.uniform(0.008, 0.025), canvas.shape).astype(np.float32)
    image = np.clip(canvas / 0.75 * 255, 0, 255).astype(np.uint8)
    return image, mask, lung_mask


def _pose(rng, S, canvas, mask, lungs):
    angle = rng.uniform(-5, 5)
    scale = rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.04, 0.04, 2) * S
    M = cv2.getRotationMatrix2D((S / 2, S / 2), angle, scale)
    M[:, 2] += shift
    canvas = cv2.warpAffine(canvas, M, (S, S), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.04)
    moved = [cv2.warpAffine(m.astype(np.uint8), M, (S, S), flags=cv2.INTER_NEAREST).astype(bool)
             for m in (mask, lungs)]
    return canvas, moved[0], moved[1]


def marker_zone(kind, place, size):
    """The box [x0, y0, x1, y1) (pixels) that every placement of the marker falls in: at a
    corner MARGIN from its edges, on the body centred on BODY[place]."""
    x0, y0, x1, y1 = _zone(kind, place, size)
    jitter = round(size * 0.015)
    grow = max(1, jitter) - jitter  # below 34 pixels draw_marker still moves by up to 1
    return [x0, y0, min(x1 + grow, size), min(y1 + grow, size)]


def _zone(kind, place, size):
    """The box draw_marker places a marker from: marker_zone without the 1-pixel jitter that
    images under 34 pixels still get (kept so that every marker draws the same pixels)."""
    S = size
    w, h = MARKER_BOX[kind]
    margin = MARGIN.get(kind, 0.04)
    w, h, margin, jitter = S * w, S * h, S * margin, S * 0.015
    if place in BODY:
        x0, y0 = S * BODY[place][0] - (w + jitter) / 2, S * BODY[place][1] - (h + jitter) / 2
    else:
        x0 = margin if place.endswith("left") else S - margin - w - jitter
        y0 = margin if place.startswith("top") else S - margin - h - jitter
    box = [x0, y0, x0 + w + jitter, y0 + h + jitter]
    return [int(np.clip(round(v), 0, S)) for v in box]


def draw_marker(image, kind, place, rng, return_mask=False):
    """`image` (S, S) uint8 with the marker burned in at `place` (within marker_zone), moved by
    up to 1.5% of S; a new array. With `return_mask`, (that array, bool (S, S) mask of the
    pixels the marker changed); the same pixels and the same draws from `rng` either way."""
    S = image.shape[0]
    x0, y0, x1, y1 = _zone(kind, place, S)
    dx, dy = rng.integers(0, max(1, round(S * 0.015)) + 1, 2)
    jitter = round(S * 0.015)
    x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 - jitter + dx, y1 - jitter + dy
    out = image.copy()
    if kind == "border":
        out[y0:y1, x0:x1] = 235
    elif kind == "label":
        out[y0:y1, x0:x1] = 225
        step = max(2, (x1 - x0) // 7)
        for x in range(x0 + 1, x1 - 1, step):  # dark "characters" on a bright strip
            out[y0 + (y1 - y0) // 4:y1 - (y1 - y0) // 4, x:x + max(1, step // 2)] = 30
    elif kind == "text":
        out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], _text("AP", x1 - x0, y1 - y0))
    elif kind == "glyph":
        t = max(1, (x1 - x0) // 4)  # an "L" (a laterality marker)
        out[y0:y1, x0:x0 + t] = 240
        out[y1 - t:y1, x0:x1] = 240
    else:
        box = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(np.rint(CONFOUNDERS[kind](box)), 0, 255)
    return (out, out != image) if return_mask else out


def _ramp(n, edge):
    """Weights (n,) across a box side, rising from its ends over `edge` pixels to 1."""
    centres = np.arange(n, dtype=np.float32) + 0.5
    return np.clip(np.minimum(centres, n - centres) / max(edge, 1.0), 0, 1)


def _hyperintensity(box):
    """A bright disc filling the box: +120 inside 70% of its radius, fading smoothly to 0 at
    the rim; the texture beneath stays visible."""
    h, w = box.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    d = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
    a = np.clip((1 - d) / 0.3, 0, 1)
    return box + 120 * a * a * (3 - 2 * a)


def _obstruction(box):
    """A dark patch filling the box: the image replaced by 10 inside, blended at the edges over
    a sixth of the shorter side."""
    h, w = box.shape
    edge = min(h, w) / 6
    a = _ramp(h, edge)[:, None] * _ramp(w, edge)[None, :]
    return box * (1 - a) + 10 * a


def _ruler(box):
    """A radiographic ruler along the box: a faint strip with bright tick marks every 2% of
    the image (at least 2 pixels) hanging from its top edge, every fifth one full height."""
    h, w = box.shape
    out = box * 0.6 + 190 * 0.4
    step = max(2, round(w / 15))
    for k, x in enumerate(range(1, w - 1, step)):
        out[:h if k % 5 == 0 else max(1, (h + 1) // 2), x] = 245
    return out


CONFOUNDERS = {"hyperintensity": _hyperintensity, "obstruction": _obstruction, "ruler": _ruler}


def _text(text, w, h):
    """`text` in white on black, uint8 (h, w), as burned-in text looks on a film shrunk to the
    phantom's size: drawn in a Hershey font at 8 times the box, shrunk, and every pixel that
    a stroke covers by a quarter drawn at full strength."""
    font, big = cv2.FONT_HERSHEY_SIMPLEX, 8
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(w * big / tw, h * big / (th + base)) * 0.9
    thick = max(1, round(scale * 2))
    canvas = np.zeros((h * big, w * big), np.uint8)
    cv2.putText(canvas, text, (0, h * big - 1 - int(base * scale)), font, scale, 255, thick,
                cv2.LINE_AA)
    small = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
    return np.where(small >= 64, 245, 0).astype(np.uint8)


def write_set(out, n, seed, size=224, progress=True, shortcut=None, marker_masks=None):
    """Write n phantoms, half of each class, as a class-per-folder set with its lesion masks,
    its lung-field masks (DIR/roi/<class>/) and, with a `Shortcut`, markers burned into a share
    of one class's images (listed in DIR/shortcut.json); with a `marker_masks` folder (best
    outside `out`, where it would read as a class), the pixels each marker changed as
    marker_masks/<class>/<file name>. Returns the marked file names."""
    return write_films(out, n, seed, size, phantom_with_lungs, progress, shortcut, marker_masks)


def write_films(out, n, seed, size, film, progress=True, shortcut=None, marker_masks=None):
    """write_set for any film maker: film(rng, opacity, size) -> (image uint8 (size, size),
    lesion mask, lung fields), drawn from one generator seeded `seed`; the markers take their
    own draws, so a marked set is the clean set of the same seed with markers added."""
    from keras.utils import Progbar

    rng = np.random.default_rng(seed)
    marks = np.random.default_rng([seed, 1])  # the markers' own draws: base images unchanged
    for name in CLASSES:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        os.makedirs(os.path.join(out, ROI_DIR, name), exist_ok=True)
    os.makedirs(os.path.join(out, MASKS_DIR, "opacity"), exist_ok=True)
    bar = Progbar(n, unit_name="image") if progress else None
    marked = []
    for i in range(n):
        label = CLASSES[i % 2]
        image, mask, lungs = film(rng, label == "opacity", size)
        fname = f"{seed}_{i:05d}.png"
        if shortcut and label == shortcut.label and marks.uniform() < shortcut.share:
            image, changed = draw_marker(image, shortcut.kind, shortcut.place, marks, True)
            marked.append(f"{label}/{fname}")
            if marker_masks:
                path = os.path.join(marker_masks, label, fname)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                cv2.imwrite(path, changed.astype(np.uint8) * 255)
        cv2.imwrite(os.path.join(out, label, fname), image)
        cv2.imwrite(os.path.join(out, ROI_DIR, label, fname), lungs.astype(np.uint8) * 255)
        if label == "opacity":
            cv2.imwrite(os.path.join(out, MASKS_DIR, "opacity", fname), mask.astype(np.uint8) * 255)
        if bar:
            bar.update(i + 1)
    if shortcut:
        with open(os.path.join(out, "shortcut.json"), "w") as f:
            json.dump({**asdict(shortcut), "zone": marker_zone(shortcut.kind, shortcut.place,
                                                               size), "marked": marked}, f)
    return marked


def set_parser(description):
    """An argument parser with the options of a written set: --out, --n, --seed, --size and
    the planted marker's (--marker, --marker-class, --marker-share, --marker-place,
    --marker-masks); parse it with parse_set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--marker", choices=MARKERS, help="plant a shortcut of this kind")
    parser.add_argument("--marker-class", choices=CLASSES, default="opacity")
    parser.add_argument("--marker-share", type=float, default=1.0)
    parser.add_argument("--marker-place", choices=PLACES, default="top-left")
    parser.add_argument("--marker-masks", metavar="MDIR",
                        help="write the pixels each marker changed to MDIR/<class>/*.png")
    return parser


def parse_set(parser, argv=None):
    """(arguments, Shortcut or None) of a set_parser; the parser's error for values out of
    range."""
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 32:
        parser.error("--n must be >= 1 and --size >= 32")
    if not 0 < args.marker_share <= 1:
        parser.error("--marker-share must be in (0, 1]")
    shortcut = args.marker and Shortcut(args.marker, args.marker_class, args.marker_share,
                                        args.marker_place)
    return args, shortcut or None


def main(argv=None):
    args, shortcut = parse_set(set_parser("Write synthetic chest X-rays with lesion masks."),
                               argv)
    write_set(args.out, args.n, args.seed, args.size, shortcut=shortcut,
              marker_masks=args.marker_masks)
    print(f"Wrote {args.n} phantoms to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
