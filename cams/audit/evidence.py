"""Where the evidence is: maps as mass distributions on a coarse grid, mean maps per group, and
the share of each map's mass inside a region of interest (e.g. the lung fields)."""
import cv2
import numpy as np


def downsample(maps, grid):
    """Maps (N, H, W) averaged onto a (grid, grid) lattice and scaled to sum 1 each: float32
    (N, grid, grid), the share of each map's mass per cell. An all-zero map becomes uniform."""
    maps = np.asarray(maps, np.float32)
    small = np.stack([cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA) for m in maps])
    small = np.clip(small, 0, None)
    total = small.sum(axis=(1, 2), keepdims=True)
    return np.where(total > 0, small / np.where(total > 0, total, 1), 1.0 / grid ** 2)


def cell_share(masks, grid):
    """Binary masks (N, H, W) as the share of each (grid, grid) cell they cover: float32."""
    return np.stack([cv2.resize(np.asarray(m, np.float32), (grid, grid),
                                interpolation=cv2.INTER_AREA) for m in masks])


def _chunks(rows, chunk=64):
    """`rows` (indices, or a boolean mask) a chunk at a time, so that a fancy-indexed copy
    stays small."""
    rows = np.asarray(rows)
    rows = np.nonzero(rows)[0] if rows.dtype == bool else rows.astype(int)
    return (rows[i:i + chunk] for i in range(0, len(rows), chunk))


def mean_map(maps, rows):
    """The mean of maps[rows] (maps (N, H, W)), each map first scaled to sum 1 and the mean
    then to max 1: float32 (H, W). rows: indices or a boolean mask."""
    maps = np.asarray(maps)
    total, n = np.zeros(maps.shape[1:], np.float64), 0
    for part in _chunks(rows):
        part = np.asarray(maps[part], np.float32)
        mass = part.sum(axis=(1, 2), keepdims=True)
        total += (part / np.where(mass > 0, mass, 1)).sum(axis=0)
        n += len(part)
    mean = (total / max(n, 1)).astype(np.float32)
    return mean / mean.max() if mean.max() > 0 else mean


def mean_image(images, rows):
    """The pixel-wise mean of images[rows] (uint8 (N, H, W, C)): uint8 (H, W, C)."""
    images = np.asarray(images)
    total, n = np.zeros(images.shape[1:], np.float64), 0
    for part in _chunks(rows):
        total += images[part].sum(axis=0)
        n += len(part)
    return (total / max(n, 1)).astype(np.uint8)


def mean_maps(maps, groups):
    """{group: mean_map of the maps (N, H, W) whose entry in `groups` (N,) is that group}."""
    groups = list(groups)
    return {g: mean_map(maps, [i for i, h in enumerate(groups) if h == g])
            for g in sorted(set(groups), key=str)}


def roi_share(maps, roi, chunk=64):
    """The share of each map's mass inside its region: float (N,) from maps (N, H, W) >= 0 and
    boolean regions (N, H, W); an all-zero map counts as spread evenly. Taken `chunk` maps at a
    time, so that the float64 working copies stay small however many maps there are."""
    out = np.empty(len(maps))
    for start in range(0, len(maps), chunk):
        part = np.array(maps[start:start + chunk], np.float64)  # a copy: changed in place
        np.clip(part, 0, None, out=part)
        inside_roi = np.asarray(roi[start:start + chunk], bool)
        total = part.sum(axis=(1, 2))
        part[~inside_roi] = 0
        inside = part.sum(axis=(1, 2))
        even = inside_roi.mean(axis=(1, 2))
        out[start:start + chunk] = np.where(total > 0, inside / np.where(total > 0, total, 1),
                                            even)
    return out
