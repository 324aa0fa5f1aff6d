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


def mean_maps(maps, groups):
    """{group: mean of the maps (N, H, W) whose entry in `groups` (N,) is that group}, each map
    first scaled to sum 1 and the mean then to max 1: float32 (H, W)."""
    maps = np.asarray(maps, np.float32)
    total = maps.sum(axis=(1, 2), keepdims=True)
    mass = maps / np.where(total > 0, total, 1)
    out = {}
    for g in sorted(set(groups), key=str):
        mean = mass[np.asarray(groups) == g].mean(axis=0)
        out[g] = mean / mean.max() if mean.max() > 0 else mean
    return out


def roi_share(maps, roi):
    """The share of each map's mass inside its region: float (N,) from maps (N, H, W) >= 0 and
    boolean regions (N, H, W); an all-zero map counts as spread evenly."""
    maps = np.clip(np.asarray(maps, np.float64), 0, None)
    roi = np.asarray(roi, bool)
    total = maps.sum(axis=(1, 2))
    inside = (maps * roi).sum(axis=(1, 2))
    even = roi.mean(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), even)
