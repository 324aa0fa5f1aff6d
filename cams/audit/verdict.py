"""One verdict from the candidates' interventions: the thresholds, chosen on the planted-shortcut
benchmark (python -m train.audit_benchmark, docs/audit.md) and not tuned per model.

A candidate is eligible when the evidence of at least MIN_CONSISTENCY of its group's images
sits in it (MIN_IMAGES images at least) and, with a region of interest, less than MAX_IN_ROI of
it lies inside that region. Its suspicion is its transplant flip rate beyond the control's (the
same box pasted from images of the target's own class): the share of other classes' images that
the region alone turns into its class. The removal flip rate is reported beside it but does not
count: filling a fixed anatomical or background region (the shoulders, the top border) flips
clean benchmark models too, because the filled image is unlike any they saw, while pasting a
region only moves a model that reads what is in it. The audit's score is the largest
suspicion, and a score >= FLIP flags it.
"""
MIN_CONSISTENCY = 0.5
MIN_IMAGES = 4
MAX_IN_ROI = 0.5
FLIP = 0.5


def suspicion(candidate):
    """A candidate's suspicion in [0, 1]: its transplant flip rate minus the control's, 0 when
    it is not eligible."""
    if candidate["consistency"] < MIN_CONSISTENCY or candidate["images"] < MIN_IMAGES:
        return 0.0
    if candidate.get("in_roi") is not None and candidate["in_roi"] >= MAX_IN_ROI:
        return 0.0
    transplanted = candidate.get("flip_rate_transplanted") or 0.0
    return max(transplanted - (candidate.get("flip_rate_control") or 0.0), 0.0)


def verdict(candidates, per_class):
    """The audit's JSON: {"verdict", "score", "findings" (the flagged candidates, most
    suspicious first, with the fields of the audit's contract), "candidates" (every one tried,
    with its suspicion), "per_class", "thresholds"}."""
    scored = sorted(({**c, "suspicion": round(suspicion(c), 4)} for c in candidates),
                    key=lambda c: -c["suspicion"])
    score = scored[0]["suspicion"] if scored else 0.0
    keys = ("class", "region", "images", "share_outside_roi", "flip_rate_removed",
            "flip_rate_transplanted", "flip_rate_control", "drop_removed", "consistency",
            "suspicion")
    findings = [{k: c.get(k) for k in keys} for c in scored if c["suspicion"] >= FLIP]
    return {"verdict": "shortcut suspected" if score >= FLIP else "no shortcut found",
            "score": float(score), "findings": findings, "candidates": scored,
            "per_class": per_class,
            "thresholds": {"min_consistency": MIN_CONSISTENCY, "min_images": MIN_IMAGES,
                           "max_in_roi": MAX_IN_ROI, "flip": FLIP}}
