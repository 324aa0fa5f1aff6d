"""The verdict's rules without masks: a decisive region is a shortcut only when it looks like an
artifact; too few images, one predicted class, labels that match nothing and unclear content
give "inconclusive" with a reason; rates carry Wilson bounds; the control pastes from the
target's own class."""
import numpy as np
import pytest

from cams.audit import artifact, interventions, verdict
from cams.audit.__main__ import exit_status
from cams.audit.pipeline import untestable

DECISIVE = {"class": "opacity", "region": [0, 0, 8, 8], "images": 40, "consistency": 0.9,
            "in_roi": None, "share_outside_roi": None, "flip_rate_removed": 0.5,
            "drop_removed": 0.4, "flip_rate_transplanted": 45 / 48, "flip_rate_control": 2 / 48,
            "targets": 48, "flips_transplanted": 45, "flips_control": 2}


def test_wilson_bounds_match_the_published_values():
    # Newcombe (1998), table I: 0/10 -> 0 to 0.2775; 1/29 -> 0.0061 to 0.1718
    assert verdict.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert verdict.wilson(1, 29) == pytest.approx((0.0061, 0.1718), abs=1e-4)
    assert verdict.wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert verdict.wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("typical, expected", [
    (0.6, "shortcut suspected"), (0.12, "no shortcut found"), (0.38, "inconclusive")])
def test_without_masks_the_content_decides_what_a_decisive_region_is(typical, expected):
    out = verdict.verdict([{**DECISIVE, "stereotypy": typical}], {})
    assert out["verdict"] == expected
    assert bool(out["findings"]) == (expected == "shortcut suspected")
    assert bool(out["reasons"]) == (expected == "inconclusive")
    if expected == "no shortcut found":   # it says what it set aside, and why
        assert "carries the decision" in out["notes"][0] and "0.12" in out["notes"][0]
    if expected == "inconclusive":
        assert "--roi" in out["reasons"][0]


def test_with_masks_outside_them_is_a_shortcut_and_inside_them_the_content_decides():
    out = verdict.verdict([{**DECISIVE, "stereotypy": 0.0, "in_roi": 0.1}], {})
    assert out["verdict"] == "shortcut suspected"        # outside the lungs, whatever it is
    out = verdict.verdict([{**DECISIVE, "stereotypy": 0.9, "in_roi": 0.8}], {})
    assert out["verdict"] == "shortcut suspected"        # a patch copied onto the lungs
    out = verdict.verdict([{**DECISIVE, "stereotypy": 0.12, "in_roi": 0.8}], {})
    assert out["verdict"] == "no shortcut found"         # the lesions, in the lungs


def test_outside_the_masks_what_moves_the_model_must_lie_there_too():
    # a coarse box on the mediastinum that moves the model only with the lung pixels it reaches
    reaching = {**DECISIVE, "in_roi": 0.2, "flips_outside": 3, "flips_control_outside": 1}
    out = verdict.verdict([{**reaching, "stereotypy": 0.12}], {})
    assert out["verdict"] == "no shortcut found"
    assert "lies inside the masks" in out["notes"][0] and "3 of 48" in out["notes"][0]
    out = verdict.verdict([{**reaching, "stereotypy": 0.38}], {})
    assert out["verdict"] == "inconclusive" and "lies inside the masks" in out["reasons"][0]
    out = verdict.verdict([{**reaching, "stereotypy": 0.9}], {})
    assert out["verdict"] == "shortcut suspected"        # still a copied pattern
    # what moves the model lies outside the masks: a shortcut whatever it holds
    out = verdict.verdict([{**reaching, "stereotypy": 0.12, "flips_outside": 44}], {})
    assert out["verdict"] == "shortcut suspected"
    # beyond the control by less than FLIP, or within its interval: not outside
    assert not verdict.outside_masks({**reaching, "flips_outside": 25, "flips_control_outside": 2})
    assert verdict.decisive(45, 2, 48) and not verdict.decisive(9, 0, 9)
    # a box sought only because of the masks, outside them: only the masks' rule counts
    sought = {**reaching, "outside_only": True, "stereotypy": 0.9}
    out = verdict.verdict([sought], {})
    assert out["verdict"] == "no shortcut found" and "lies inside the masks" in out["notes"][0]
    assert verdict.verdict([{**sought, "flips_outside": 44}], {})["verdict"] == \
        "shortcut suspected"


def test_too_few_target_images_give_inconclusive_not_a_rate():
    few = {**DECISIVE, "stereotypy": 0.6, "targets": 3, "flips_transplanted": 3,
           "flips_control": 0, "flip_rate_transplanted": 1.0, "flip_rate_control": 0.0}
    out = verdict.verdict([few], {})
    assert out["verdict"] == "inconclusive" and not out["findings"]
    assert "only 3 images" in out["reasons"][0]
    assert out["candidates"][0]["transplant_ci"][0] < 0.5   # 3/3 is not "at least half"


def test_a_rate_whose_interval_meets_the_controls_is_not_decisive():
    close = {**DECISIVE, "stereotypy": 0.6, "targets": 12, "flips_transplanted": 8,
             "flips_control": 2, "flip_rate_transplanted": 8 / 12, "flip_rate_control": 2 / 12}
    out = verdict.verdict([close], {})
    assert out["verdict"] == "inconclusive" and "meets the control" in out["reasons"][0]


def test_a_shortcut_found_outranks_the_reasons():
    out = verdict.verdict([{**DECISIVE, "stereotypy": 0.6}], {}, ["only 3 images ..."])
    assert out["verdict"] == "shortcut suspected" and out["reasons"] == []


def test_untestable_data_and_models_say_why():
    names = ("normal", "opacity")
    one = untestable(np.zeros(50, int), names, ["normal"] * 50)
    assert len(one) == 1 and "predicts normal for every image" in one[0]
    few = untestable(np.r_[np.zeros(45, int), np.ones(5, int)], names, ["normal"] * 50)
    assert len(few) == 1 and "fewer than 10 images" in few[0] and "opacity (5)" in few[0]
    many = untestable(np.r_[np.zeros(40, int), np.arange(1, 14)], [f"c{i}" for i in range(14)],
                      [None] * 53)       # a 14-label head: one sentence, not thirteen
    assert len(many) == 1 and many[0].startswith("13 of the model's 14 classes")
    assert many[0].count("(1)") == 5 and many[0].endswith("add images of those classes")
    labels = ["healthy", "sick"] * 25
    nothing = untestable(np.arange(50) % 2, names, labels)
    assert len(nothing) == 1 and "match none of the model's class names" in nothing[0]
    assert untestable(np.arange(50) % 2, names, [None] * 50) == []     # unlabelled: fine
    assert untestable(np.arange(50) % 2, names, ["normal", "opacity"] * 25) == []


def _stereotypy(images, members, others, box):
    return artifact.stereotypy(artifact.pair_correlations(images, members, others, box))


def _films(n, rng, size=32):
    """n gray films (n, size, size, 3) of smooth random anatomy."""
    import cv2

    coarse = rng.uniform(60, 160, (n, 6, 6)).astype(np.float32)
    films = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in coarse])
    films += rng.normal(0, 4, films.shape)
    return np.repeat(np.clip(films, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def test_stereotypy_tells_one_copied_pattern_from_an_object_that_moves():
    rng = np.random.default_rng(0)
    films = _films(80, rng)
    box = [4, 4, 20, 20]
    glyph = np.zeros((16, 16), np.uint8)
    glyph[2:14, 3:5] = glyph[12:14, 3:12] = 1          # an "L"
    marked = films.copy()
    marked[:40, 4:20, 4:20][:, glyph.astype(bool)] = 250
    lesions = films.copy()
    yy, xx = np.mgrid[0:32, 0:32]
    for i in range(40):              # a soft blob about the box, a different place on each film
        cx, cy, r = rng.uniform(2, 22), rng.uniform(2, 22), rng.uniform(2, 4)
        blob = 70 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        lesions[i] = np.clip(lesions[i] + blob[..., None], 0, 255).astype(np.uint8)
    members, others = np.arange(40), np.arange(40, 80)
    copied = _stereotypy(marked, members, others, box)
    moving = _stereotypy(lesions, members, others, box)
    assert copied >= verdict.ARTIFACT and moving < verdict.OBJECT, (copied, moving)
    assert _stereotypy(marked, members[:1], others, box) is None
    # the region reported for the copy is the glyph's own box, not the search box
    assert artifact.extent(marked, members, others, box) == [4 + 3, 4 + 2, 4 + 12, 4 + 14]


def test_the_region_reported_for_a_copy_is_the_whole_pattern_not_the_maps_box():
    """A strip that runs out of the map's box is reported whole; a difference beside it that
    does not touch it is not taken in."""
    rng = np.random.default_rng(3)
    films = _films(60, rng)
    films[:30, 10:13, 8:28] = 250                 # a strip from inside the box to outside it
    films[:30, 24:27, 24:27] = 250                # a separate spot, outside the box
    members, others, box = np.arange(30), np.arange(30, 60), [4, 4, 18, 18]
    assert artifact.extent(films, members, others, box) == [8, 10, 18, 13]
    assert artifact.whole_extent(films, members, others, box) == [8, 10, 28, 13]
    flat = np.repeat(films[30:31], 60, axis=0)
    assert artifact.whole_extent(flat, members, others, box) == box


def test_a_pattern_on_part_of_the_films_is_neither_copies_nor_the_object():
    """Three in four members carry one glyph, the rest a blob elsewhere: the mean over pairs
    (what once accused a clean model whose lesions lay alike on some films) reads as copies, the
    lower quartile does not; the audit cannot tell, and says so rather than "the object"."""
    rng = np.random.default_rng(2)
    films = _films(80, rng)
    yy, xx = np.mgrid[0:32, 0:32]
    for i in range(40):
        if i < 30:
            films[i, 8:20, 7:9] = films[i, 18:20, 7:16] = 250      # an "L"
        else:
            cx, cy = rng.uniform(2, 22), rng.uniform(2, 22)
            blob = 70 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 18)
            films[i] = np.clip(films[i] + blob[..., None], 0, 255).astype(np.uint8)
    members, others, box = np.arange(40), np.arange(40, 80), [4, 4, 20, 24]
    pairs = artifact.pair_correlations(films, members, others, box)
    assert artifact.resemblance(pairs) >= verdict.ARTIFACT
    assert artifact.stereotypy(pairs) < verdict.OBJECT
    found = {**DECISIVE, "stereotypy": artifact.stereotypy(pairs),
             "resemblance": artifact.resemblance(pairs)}
    out = verdict.verdict([found], {})
    assert out["verdict"] == "inconclusive" and "some of its films" in out["reasons"][0]
    # all forty carrying it: copies
    films[30:40, 8:20, 7:9] = films[30:40, 18:20, 7:16] = 250
    assert _stereotypy(films, members, others, box) >= verdict.ARTIFACT


@pytest.mark.parametrize("typical, mean, expected", [
    (0.05, 0.2, "no shortcut found"), (0.05, 0.35, "inconclusive"),
    (0.5, 0.6, "shortcut suspected"), (0.05, None, "no shortcut found")])
def test_the_object_needs_both_the_quartile_and_the_mean_below_its_threshold(typical, mean,
                                                                              expected):
    out = verdict.verdict([{**DECISIVE, "stereotypy": typical, "resemblance": mean}], {})
    assert out["verdict"] == expected


def test_copies_placed_a_pixel_apart_are_still_one_pattern():
    """A strip of 1-pixel stripes, placed one pixel left or right on each film: unaligned,
    half the copies are the others' negative and their mean correlation is about 0."""
    rng = np.random.default_rng(1)
    films = _films(60, rng)
    for i in range(30):
        dx = i % 2
        films[i, 8:11, 6 + dx:22 + dx:2] = 250
        films[i, 8:11, 7 + dx:23 + dx:2] = 10
    box = [4, 4, 28, 16]
    c = artifact.aligned_correlations(films, np.arange(30), np.arange(30, 60), box, 1)
    still = artifact.aligned_correlations(films, np.arange(30), np.arange(30, 60), box, 0)
    assert c[0, 1] > 0.8 and still[0, 1] < 0                 # a pixel apart: aligned, one
    assert _stereotypy(films, np.arange(30), np.arange(30, 60), box) >= \
        verdict.ARTIFACT
    # each entry is the best correlation over the shifts, as a loop computes it
    x0, y0, x1, y1 = box
    res = films[:30, :, :, 0].astype(float) - films[30:, :, :, 0].astype(float).mean(0)
    def corr(a, b):
        a, b = a - a.mean(), b - b.mean()
        return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    loop = max(corr(res[2, y0:y1, x0:x1], res[5, y0 + dy:y1 + dy, x0 + dx:x1 + dx])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    loop = max(loop, max(corr(res[5, y0:y1, x0:x1], res[2, y0 + dy:y1 + dy, x0 + dx:x1 + dx])
                         for dy in (-1, 0, 1) for dx in (-1, 0, 1)))
    assert c[2, 5] == pytest.approx(loop)


def test_the_control_pastes_from_the_targets_own_class():
    predicted = np.array([0, 0, 1, 2, 1, 2, 2, 1])
    targets = np.array([2, 3, 4, 5, 6, 7])
    sources = interventions.control_sources(targets, predicted)
    assert (predicted[sources] == predicted[targets]).all() and (sources != targets).all()
    assert interventions.control_sources([0], np.array([0, 1]))[0] == 0   # its class alone


def test_a_seam_between_classes_does_not_count_as_the_controls_effect():
    """Three classes, each film one flat grey; a model that calls any film with a patch of
    another grey class 0 (it reads seams). The control must paste from the target's class,
    where there is no seam, so it flips nothing; pasting from another class would."""
    grey = {0: 40, 1: 120, 2: 200}
    predicted = np.array([0] * 6 + [1, 2] * 6)
    images = np.stack([np.full((16, 16, 3), grey[c], np.uint8) for c in predicted])

    def predict(batch):
        seam = batch[:, 4:8, 4:8, 0] != batch[:, 12:, 12:, 0][:, :1, :1]
        p = np.zeros((len(batch), 3), np.float32)
        p[np.arange(len(batch)), [grey_class(b) for b in batch]] = 1
        p[seam.all(axis=(1, 2))] = [1, 0, 0]
        return p

    def grey_class(film):
        return {v: k for k, v in grey.items()}[int(film[15, 15, 0])]

    probs = predict(images)
    out = interventions.intervene(predict, images, probs, np.arange(6),
                                  np.arange(6, len(images)), [4, 4, 8, 8], 0)
    assert out["flip_rate_transplanted"] == 1.0 and out["targets"] == 12
    assert out["flip_rate_control"] == 0.0 and out["flips_control"] == 0


def test_the_gate_has_an_exit_code_for_each_verdict():
    assert exit_status({"verdict": "shortcut suspected"}, True) == 1
    assert exit_status({"verdict": "inconclusive"}, True) == 3
    assert exit_status({"verdict": "no shortcut found"}, True) == 0
    assert exit_status({"verdict": "inconclusive"}, False) == 0
