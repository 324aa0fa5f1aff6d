"""The phantoms' lesion masks lie on the lesions drawn, to within a pixel or two.

Each opacity phantom is drawn twice from the same random state: as generated, and with the
lesions' added attenuation set to zero. Every random draw is the same in both (anatomy, pose,
blur, exposure, noise), so the difference of the two images is the drawn lesion alone, found
without reading the mask. The mask must then cover that lesion: its faintest pixels inside the
mask must be well above any trace of it 3 px or more outside the mask. A mask moved by 2 px fails
this for every phantom (checked below), so a mask that drifts off its lesion is noticed.
"""
import cv2
import numpy as np
import pytest

from train import phantoms

SEEDS = range(24)


def _lesion_alone(monkeypatch, seed, size):
    """(drawn lesion: int (size, size), its mask) of the opacity phantom drawn from `seed`."""
    image, mask = phantoms.phantom(np.random.default_rng(seed), True, size)
    draw = phantoms._opacities

    def undrawn(*args):  # the same random draws, nothing added to the film
        add, region = draw(*args)
        return np.zeros_like(add), region

    with monkeypatch.context() as patch:
        patch.setattr(phantoms, "_opacities", undrawn)
        twin, twin_mask = phantoms.phantom(np.random.default_rng(seed), True, size)
    np.testing.assert_array_equal(mask, twin_mask)
    return image.astype(int) - twin.astype(int), mask


def _grow(mask, radius):
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def _contrast(lesion, mask):
    """The mask's faintest lesion level (1st percentile inside it, grey levels) over the largest
    trace of the lesion 3 px or more outside it."""
    inside = np.percentile(lesion[mask], 1)
    outside = np.abs(lesion[~_grow(mask, 3)]).max()
    return inside, inside / max(outside, 0.5)


@pytest.mark.parametrize("size", [224, 160])
def test_each_mask_covers_the_lesion_drawn_and_nothing_else(monkeypatch, size):
    for seed in SEEDS:
        lesion, mask = _lesion_alone(monkeypatch, seed, size)
        assert mask.any(), f"seed {seed}: an opacity phantom without a lesion"
        inside, ratio = _contrast(lesion, mask)
        assert inside >= 12, f"seed {seed}: mask pixels where no lesion was drawn ({inside:.1f})"
        assert ratio > 2, (f"seed {seed}: the drawn lesion reaches outside its mask "
                           f"(inside / outside = {ratio:.2f})")


@pytest.mark.parametrize("move", [(0, 2), (0, -2), (2, 0), (-2, 0)])
def test_a_mask_moved_two_pixels_fails_the_check(monkeypatch, move):
    for seed in SEEDS:
        lesion, mask = _lesion_alone(monkeypatch, seed, 224)
        moved = np.roll(mask, move, axis=(0, 1))
        assert _contrast(lesion, moved)[1] < 2, f"seed {seed}: a moved mask passes"

