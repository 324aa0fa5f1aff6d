"""Each step of the audit alone, on synthetic arrays with a known answer."""
import numpy as np
import pytest

from cams.audit import artifact, clusters, evidence, interventions, regions, verdict
from tests.cams.audit.test_verdict import _films


def spot_maps(n, size, centers, radius=3):
    """n maps (n, size, size), each a bright disc at its center (x, y), zero elsewhere."""
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([((xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2).astype(np.float32)
                     for cx, cy in centers[:n]])


def test_downsample_keeps_mass_and_place():
    maps = spot_maps(2, 64, [(8, 8), (56, 40)])
    small = evidence.downsample(maps, 16)
    assert small.shape == (2, 16, 16)
    np.testing.assert_allclose(small.sum(axis=(1, 2)), 1, atol=1e-5)
    assert np.unravel_index(small[0].argmax(), (16, 16)) == (2, 2)
    assert np.unravel_index(small[1].argmax(), (16, 16)) == (10, 14)
    uniform = evidence.downsample(np.zeros((1, 8, 8)), 4)
    np.testing.assert_allclose(uniform, 1 / 16)


def test_roi_share_and_mean_maps():
    maps = spot_maps(2, 32, [(5, 5), (25, 25)])
    roi = np.zeros((2, 32, 32), bool)
    roi[:, :16, :16] = True
    np.testing.assert_allclose(evidence.roi_share(maps, roi), [1.0, 0.0])
    np.testing.assert_allclose(evidence.roi_share(np.zeros((1, 32, 32)), roi[:1]), [0.25])
    means = evidence.mean_maps(maps, ["a", "b"])
    assert set(means) == {"a", "b"} and means["a"].max() == pytest.approx(1.0)
    assert means["a"][5, 5] == 1 and means["a"][25, 25] == 0


def test_whole_set_summaries_are_exact_and_held_to_a_few_chunks_of_memory():
    import tracemalloc

    rng = np.random.default_rng(0)
    maps = rng.uniform(size=(300, 64, 64)).astype(np.float32) ** 4
    roi = rng.uniform(size=(300, 64, 64)) < 0.3
    images = rng.integers(0, 256, (300, 64, 64, 3), dtype=np.uint8)
    rows = np.arange(1, 300, 2)
    tracemalloc.start()
    share = evidence.roi_share(maps, roi)
    mean, picture = evidence.mean_map(maps, rows), evidence.mean_image(images, rows)
    extra = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # measured 4.2 MB in chunks of 64 maps; 19.7 MB for the float64 copies of all 300 at once
    assert extra < 6e6
    expected = (maps * roi).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    np.testing.assert_allclose(share, expected, rtol=1e-6)
    mass = (maps / maps.sum(axis=(1, 2), keepdims=True))[rows].mean(axis=0)
    np.testing.assert_allclose(mean, mass / mass.max(), rtol=1e-5)
    np.testing.assert_array_equal(picture, images[rows].mean(axis=0).astype(np.uint8))
    assert 0.2 < share.mean() < 0.4 and np.ptp(mean) > 0.01
    where = np.zeros(300, bool)
    where[rows] = True   # a boolean mask picks the same rows
    np.testing.assert_array_equal(evidence.mean_map(maps, where), mean)
    np.testing.assert_array_equal(evidence.mean_image(images, where), picture)


def test_eigengap_counts_separated_groups():
    rng = np.random.default_rng(0)
    centers = [(8, 8)] * 10 + [(56, 56)] * 10 + [(8, 56)] * 10
    jitter = [(x + rng.integers(-1, 2), y + rng.integers(-1, 2)) for x, y in centers]
    small = evidence.downsample(spot_maps(30, 64, jitter), 16)
    labels, ev = clusters.cluster(small, seed=0)
    assert len(set(labels)) == 3
    for block in (labels[:10], labels[10:20], labels[20:]):
        assert len(set(block)) == 1            # each group is one cluster
    assert ev[0] == pytest.approx(0, abs=1e-6)
    one_group = evidence.downsample(spot_maps(10, 64, [(30, 30)] * 10), 16)
    assert set(clusters.cluster(one_group)[0]) == {0}
    assert clusters.eigengap([0, 0, 0.9, 0.95, 1.0]) == 2


def test_purity():
    labels = np.array([0, 0, 0, 1, 1])
    out = clusters.purity(labels, ["a", "a", "b", "b", None])
    assert out[0] == (3, "a", pytest.approx(2 / 3))
    assert out[1][0] == 2
    assert clusters.purity(np.array([0, 0]), [None, None])[0] == (2, "unlabelled", 1.0)


def test_a_fixed_spot_is_a_compact_candidate_and_a_moving_one_is_not():
    rng = np.random.default_rng(1)
    fixed = spot_maps(40, 64, [(6, 58)] * 40)
    moving = spot_maps(40, 64, [tuple(rng.integers(8, 56, 2)) for _ in range(40)])
    cand = regions.candidate(evidence.downsample(fixed, 16))
    assert cand["consistency"] == 1.0
    x0, y0, x1, y1 = regions.to_pixels(cand["box"], 16, (64, 64))
    assert x0 <= 6 < x1 and y0 <= 58 < y1 and (x1 - x0) * (y1 - y0) <= 0.08 * 64 * 64
    spread = regions.candidate(evidence.downsample(moving, 16))
    assert spread["consistency"] < 0.3
    # inside the region of interest the fixed spot does not count
    outside = np.ones((40, 16, 16), bool)
    outside[:, 12:, :4] = False
    assert regions.candidate(evidence.downsample(fixed, 16), outside) is None


def test_compact_box_shrinks_a_wide_plateau():
    freq = np.zeros((16, 16))
    freq[2:14, 2:14] = 0.6
    freq[5, 9] = 1.0
    box = regions.compact_box(freq, max_area=0.08)
    assert box == [9, 5, 10, 6]
    assert regions.compact_box(np.zeros((4, 4))) is None
    assert regions.grown([0, 0, 2, 2], 16) == [0, 0, 3, 3]


def _marker_model(cls=1, box=(0, 0, 8, 8)):
    """predict(uint8 images) -> probabilities: class `cls` when the box is bright."""
    def predict(images):
        x0, y0, x1, y1 = box
        p = (images[:, y0:y1, x0:x1].mean(axis=(1, 2, 3)) > 128).astype(float)
        p = 0.05 + 0.9 * p
        return np.stack([1 - p, p], axis=1) if cls == 1 else np.stack([p, 1 - p], axis=1)
    return predict


def test_interventions_find_what_the_model_needs():
    rng = np.random.default_rng(2)
    images = rng.integers(40, 90, (12, 32, 32, 3)).astype(np.uint8)
    images[:6, 0:8, 0:8] = 250                           # the marked class
    predict = _marker_model()
    probs = predict(images)
    out = interventions.intervene(predict, images, probs, np.arange(6), np.arange(6, 12),
                                  [0, 0, 8, 8], 1)
    assert out["flip_rate_removed"] == 1.0 and out["flip_rate_transplanted"] == 1.0
    assert out["flip_rate_control"] == 0.0 and out["drop_removed"] > 0.8
    assert out["after_removed"][:, :8, :8].mean() < 150   # filled from the dull surroundings
    # a region the model does not read changes nothing
    out = interventions.intervene(predict, images, probs, np.arange(6), np.arange(6, 12),
                                  [20, 20, 28, 28], 1)
    assert out["flip_rate_removed"] == 0.0 and out["flip_rate_transplanted"] == 0.0


def test_with_masks_a_box_is_also_pasted_without_their_pixels():
    # the model reads a bright spot at (4..8, 0..8), inside the masks; the candidate's box,
    # drawn at a coarse scale, covers it and the masks' margin beside it
    rng = np.random.default_rng(3)
    images = rng.integers(40, 90, (12, 32, 32, 3)).astype(np.uint8)
    images[:6, 0:8, 4:8] = 250
    roi = np.zeros((12, 32, 32), bool)
    roi[:, :, 4:] = True
    predict = _marker_model(box=(4, 0, 8, 8))
    probs = predict(images)
    out = interventions.intervene(predict, images, probs, np.arange(6), np.arange(6, 12),
                                  [0, 0, 8, 8], 1, roi=roi)
    assert out["flips_transplanted"] == 6 and out["flips_outside"] == 0
    assert out["flips_control_outside"] == 0
    # a marker outside the masks moves the model without their pixels too
    roi[:, :, :] = False
    roi[:, 16:, :] = True
    out = interventions.intervene(predict, images, probs, np.arange(6), np.arange(6, 12),
                                  [0, 0, 8, 8], 1, roi=roi)
    assert out["flips_transplanted"] == 6 and out["flips_outside"] == 6
    assert "flips_outside" not in interventions.intervene(
        predict, images, probs, np.arange(6), np.arange(6, 12), [0, 0, 8, 8], 1)


def test_flips_need_a_margin():
    before = np.array([[0.45, 0.55], [0.1, 0.9]])
    after = np.array([[0.55, 0.45], [0.6, 0.4]])
    np.testing.assert_array_equal(interventions.flips(before, after, 1, False), [False, True])


def test_verdict_rests_on_eligible_flips():
    base = {"class": "a", "region": [0, 0, 4, 4], "images": 20, "consistency": 0.9,
            "in_roi": None, "share_outside_roi": None, "flip_rate_removed": 0.1,
            "flip_rate_transplanted": 0.9, "flip_rate_control": 0.1, "drop_removed": 0.1}
    out = verdict.verdict([base], {})
    assert out["verdict"] == "shortcut suspected" and out["score"] == pytest.approx(0.8)
    assert out["findings"][0]["region"] == [0, 0, 4, 4]
    for change in ({"consistency": 0.2}, {"images": 1}, {"in_roi": 0.9},
                   {"flip_rate_control": 0.6}, {"flip_rate_transplanted": 0.2},
                   {"flip_rate_transplanted": 0.0, "flip_rate_removed": 1.0}):
        out = verdict.verdict([{**base, **change}], {})
        assert out["verdict"] == "no shortcut found" and not out["findings"], change
    assert verdict.verdict([], {})["score"] == 0.0


def test_a_large_class_is_clustered_on_a_sample_and_the_rest_join_their_nearest():
    rng = np.random.default_rng(2)
    centers = [(8, 8), (56, 56), (8, 56)]
    truth = rng.integers(0, 3, 900)
    jitter = [(centers[t][0] + rng.integers(-2, 3), centers[t][1] + rng.integers(-2, 3))
              for t in truth]
    small = evidence.downsample(spot_maps(900, 64, jitter), 16)
    labels, ev = clusters.cluster(small, seed=0, sample=200)
    assert len(ev) == 200                       # the spectrum of the sample only
    assert len(set(labels)) == 3
    for t in range(3):                          # every image, sampled or not, with its group
        assert len(set(labels[truth == t])) == 1
    exact, _ = clusters.cluster(small[:150], seed=0, sample=200)
    same, _ = clusters.cluster(small[:150], seed=0)
    np.testing.assert_array_equal(exact, same)  # below the sample size: clustered as before


def test_maps_preprocess_a_batch_at_a_time():
    import cams
    from cams.audit.maps import explain_maps
    from tests.models import two_class_cnn

    model = two_class_cnn((16, 16, 3), convs=2)
    images = np.random.default_rng(0).integers(0, 255, (37, 16, 16, 3), dtype=np.uint8)
    seen = []

    def preprocess(x):
        seen.append((len(x), x.dtype))
        return x / 127.5 - 1

    maps, probs, layer = explain_maps(model, images, preprocess, "gradcam", "conv2",
                                      batch_size=16)
    assert seen == [(16, np.float32), (16, np.float32), (5, np.float32)]
    whole = cams.explain(model, images / 127.5 - 1, layer="conv2")
    np.testing.assert_allclose(maps, whole.heatmaps, atol=1e-5)
    np.testing.assert_allclose(probs, whole.probabilities, atol=1e-6)
    assert np.ptp(maps) > 0.5 and layer == "conv2"


def test_pictures_keep_the_images_aspect():
    from cams.audit import figures

    wide = np.zeros((40, 80, 3), np.uint8)          # black, twice as wide as high
    tile = figures.thumb(wide, box=[0, 0, 20, 20])
    assert tile.shape == (figures.THUMB, figures.THUMB, 3)
    assert (tile[:32] == 255).all() and (tile[96:] == 255).all()     # white above and below
    assert (tile[33:95, 40:] == 0).all()                              # the image, not stretched
    assert (tile[32:40, :32] == [0, 255, 0]).all(axis=2).any()        # the box, drawn
    square = figures.thumb(np.full((64, 64, 3), 7, np.uint8))
    assert (square == 7).all()                                        # a square fills the tile


def test_with_masks_a_fixed_spot_inside_them_is_still_a_candidate():
    """A marker can sit on the lungs: with masks, boxes are sought outside them and
    everywhere, so that its content can decide."""
    from cams.audit.pipeline import _candidates

    maps = spot_maps(20, 64, [(30, 30)] * 20) + 0.5 * spot_maps(20, 64, [(8, 56)] * 20)
    small = evidence.downsample(maps, 16)
    outside = np.ones((20, 16, 16), bool)
    outside[:, 4:12, 4:12] = False                     # the spot is inside the masks
    groups = {1: (np.arange(20), np.zeros(20, int))}
    found = _candidates(small, outside, np.ones(20, int), groups)
    boxes = [c["box"] for c in found]
    assert any(b[0] <= 7 < b[2] and b[1] <= 7 < b[3] for b in boxes), boxes
    # the spot's box, found as without masks, is judged as without masks; a box sought only
    # among the cells outside the masks is marked so
    assert all(not c["outside_only"] for c in found if c["box"][0] <= 7 < c["box"][2])
    assert any(c["outside_only"] for c in found), [c["box"] for c in found]


def test_the_region_reported_is_the_planted_markers_pixels():
    """The region a user crops: a marker copied onto every member film at [37, 13, 46, 21)
    (x0, y0, x1, y1), inside a candidate box drawn at the maps' coarse scale, is reported at
    exactly those pixels."""
    images = _films(24, np.random.default_rng(3), size=64)
    members, others = np.arange(12), np.arange(12, 24)
    stripes = np.tile(np.array([255, 0], np.uint8), (8, 5))[:, :9]   # 8 x 9 pixels
    images[members, 13:21, 37:46] = stripes[..., None]
    coarse = regions.to_pixels(regions.grown([9, 3, 11, 5], 16), 16, (64, 64))
    assert coarse == [32, 8, 48, 24]
    assert artifact.extent(images, members, others, coarse) == [37, 13, 46, 21]
    pairs = artifact.pair_correlations(images, members, others, coarse)
    assert artifact.stereotypy(pairs) >= verdict.ARTIFACT


def test_each_target_gets_the_box_of_its_own_source_in_turn():
    """The transplant pastes the members' boxes onto the other class's films, source i % M for
    target i, as the model then reads them (a paste from one source for every target fails)."""
    images = _films(10, np.random.default_rng(4), size=64)
    members, others = np.arange(4), np.arange(4, 10)
    box = [8, 16, 24, 40]
    x0, y0, x1, y1 = box
    seen = []

    def predict(batch):
        seen.append(batch.copy())
        return np.tile([0.9, 0.1], (len(batch), 1))

    probabilities = np.tile([0.9, 0.1], (10, 1))
    probabilities[members] = [0.1, 0.9]
    interventions.intervene(predict, images, probabilities, members, others, box, cls=1)
    pasted = seen[1][:len(others)]                  # the transplants; the controls follow
    for i, target in enumerate(others):
        source = members[i % len(members)]
        np.testing.assert_array_equal(pasted[i, y0:y1, x0:x1], images[source, y0:y1, x0:x1])
        outside = np.ones((64, 64), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(pasted[i][outside], images[target][outside])
    assert len({pasted[i, y0:y1, x0:x1].tobytes() for i in range(len(others))}) == 4
