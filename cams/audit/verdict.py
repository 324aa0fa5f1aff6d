"""One verdict from the candidates' interventions: "shortcut suspected", "no shortcut found" or
"inconclusive" with its reasons. The thresholds were chosen on the planted-shortcut benchmark
(python -m train.audit_benchmark, docs/audit-benchmark.md) and are not tuned per model.

A candidate is eligible when the evidence of at least MIN_CONSISTENCY of its group's images
sits in it (MIN_IMAGES images at least). Its suspicion is its transplant flip rate beyond the
control's (the same box pasted from images of the target's own class): the share of other
classes' images that the region alone turns into its class. The removal flip rate is reported
beside it but does not count: filling a fixed region flips clean models too, because the filled
image is unlike any they saw, while pasting a region only moves a model that reads what is in
it.

A region is *decisive* when its suspicion reaches FLIP on at least MIN_TARGETS images and the
transplant's 95% Wilson interval lies above the control's. A decisive region proves that it
carries the decision, not that it is an artifact: a lesion zone carries it too. So its content
decides (cams.audit.artifact): stereotypy at least ARTIFACT, one pattern copied onto the films,
(three pairs in four alike), is a shortcut; content that differs from film to film as the
object does, stereotypy and resemblance (the mean over pairs) both below OBJECT, is not;
otherwise the audit cannot tell, and says so. With masks of where the evidence should be, a
decisive region that lies mostly (MAX_IN_ROI) outside them is a shortcut whatever it holds,
provided its pixels outside the masks alone are decisive too (a box drawn at a coarse map's
scale reaches into the lungs and can carry the lesion from there). Any other region that the
audit would also have found without masks is judged by its content as without masks (a marker
can sit on the lungs); one it sought only because of the masks, outside them, is not counted:
what moves the model lies inside the masks, where the evidence should be.
"""
import math

MIN_CONSISTENCY = 0.5
MIN_IMAGES = 4
MAX_IN_ROI = 0.5
FLIP = 0.5
MIN_TARGETS = 10      # images a transplant is tried on before its rate means anything
MIN_PREDICTED = 10    # images each class must be predicted for the audit to test it
ARTIFACT = 0.45       # stereotypy at or above which a decisive region is an artifact
OBJECT = 0.3          # stereotypy below which a decisive region is the object


def wilson(k, n, z=1.96):
    """The Wilson score interval (low, high) of k successes in n trials, 95% by default;
    (0.0, 1.0) when n is 0."""
    if not n:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def eligible(candidate):
    """Whether the candidate's group sits in it: MIN_CONSISTENCY of its images, MIN_IMAGES at
    least."""
    return (candidate["consistency"] >= MIN_CONSISTENCY
            and candidate["images"] >= MIN_IMAGES)


def suspicion(candidate):
    """A candidate's suspicion in [0, 1]: its transplant flip rate minus the control's, 0 when
    it is not eligible."""
    if not eligible(candidate):
        return 0.0
    transplanted = candidate.get("flip_rate_transplanted") or 0.0
    return max(transplanted - (candidate.get("flip_rate_control") or 0.0), 0.0)


def decisive(flips, control, n):
    """Whether `flips` of n pasted images beat the control's `control` flips: a rate at least
    FLIP beyond it on MIN_TARGETS images or more, its 95% interval above the control's."""
    return (n >= MIN_TARGETS and (flips - control) / n >= FLIP
            and wilson(flips, n)[0] > wilson(control, n)[1])


def outside_masks(candidate):
    """Whether the candidate lies mostly outside the masks and what moves the model lies there
    too: its transplant without the masked pixels is decisive (a record written before that
    transplant existed: its place alone)."""
    inside = candidate.get("in_roi")
    if inside is None or inside >= MAX_IN_ROI:
        return False
    if "flips_outside" not in candidate:
        return True
    return decisive(candidate["flips_outside"], candidate["flips_control_outside"],
                    candidate["targets"])


def artifact_weight(candidate):
    """How far the candidate counts as an artifact, in [0, 1]: 1 when it lies outside the
    masks (outside_masks); 0 when it was sought only outside them and that does not hold; else
    by its content: 1 at stereotypy >= ARTIFACT, 0 below OBJECT, linear between; with masks
    and no stereotypy (a record written before it existed), 0, and without either, 1 (as the
    rule then was)."""
    s = candidate.get("stereotypy")
    inside = candidate.get("in_roi")
    if outside_masks(candidate):
        return 1.0
    if candidate.get("outside_only") and "flips_outside" in candidate:
        return 0.0   # sought outside the masks, but what moves the model lies inside them
    if s is None:
        return 0.0 if inside is not None else 1.0
    return min(max((s - OBJECT) / (ARTIFACT - OBJECT), 0.0), 1.0)


def score(candidate):
    """The candidate's contribution to the audit's score: suspicion x artifact_weight."""
    return suspicion(candidate) * artifact_weight(candidate)


def status(candidate):
    """"shortcut", "object" (decisive, but its content varies as the object's does), "unclear"
    (decisive, content between object and artifact), "too few" (suspicious on fewer than
    MIN_TARGETS images), "not significant" (suspicious, but its interval meets the control's)
    or "no effect"."""
    if suspicion(candidate) < FLIP:
        return "no effect"
    n = candidate.get("targets")
    if n is None:   # a record written before counts existed: the point rates decide
        significant = True
    elif n < MIN_TARGETS:
        return "too few"
    else:
        low = wilson(candidate["flips_transplanted"], n)[0]
        significant = low > wilson(candidate["flips_control"], n)[1]
    if not significant:
        return "not significant"
    weight = artifact_weight(candidate)
    if weight >= 1:
        return "shortcut"
    return "object" if weight <= 0 and not partly_copied(candidate) else "unclear"


def partly_copied(candidate):
    """Whether a region judged by its content, below OBJECT in stereotypy, still has many of
    its pairs alike: a resemblance (the mean over pairs) of OBJECT or more. A pattern copied
    onto part of the films (a marker on 50% of them, its region shared with lesions) reads so,
    and so can lesions that lie alike on some films: neither the object nor an artifact."""
    r = candidate.get("resemblance")
    if r is None or candidate.get("stereotypy") is None or outside_masks(candidate):
        return False
    if candidate.get("outside_only") and "flips_outside" in candidate:
        return False
    return r >= OBJECT


def _reason(c):
    """The sentence an inconclusive candidate adds to the verdict's reasons, or None."""
    where = f"region {c['region']} of class {c['class']}"
    if c["status"] == "too few":
        return (f"{where} moves the model, but only {c['targets']} images of another class "
                f"were there to paste it onto (at least {MIN_TARGETS} needed)")
    if c["status"] == "not significant":
        pasted, control = c["transplant_ci"], c["control_ci"]
        return (f"{where} moves the model ({c['flips_transplanted']} of {c['targets']} pasted "
                f"images), but its 95% interval [{pasted[0]:.2f}, {pasted[1]:.2f}] meets the "
                f"control's [{control[0]:.2f}, {control[1]:.2f}]: audit more images")
    if c["status"] == "unclear":
        if partly_copied(c) and c["stereotypy"] < OBJECT:
            content = (f"some of its films look alike there while others do not: three pairs in "
                       f"four match no better than {c['stereotypy']:.2f}, but on average "
                       f"{c['resemblance']:.2f} (a pattern copied onto part of the films, or "
                       f"lesions that lie alike on some)")
            advice = ("look at its films in report.html, or give --roi masks of where the "
                      "evidence should be")
        else:
            content = (f"its content is neither clearly one pattern copied onto the films (an "
                       f"artifact) nor different on each film (the object): stereotypy "
                       f"{c['stereotypy']:.2f}, between {OBJECT} and {ARTIFACT}")
            advice = ("give --roi masks of where the evidence should be: a region outside them "
                      "is then a shortcut whatever it holds")
        if c.get("in_roi") is not None:
            advice = _inside_note(c) + "look at its films in report.html"
        return f"{where} carries the decision, and {content}; {advice}"
    return None


def verdict(candidates, per_class, reasons=()):
    """The audit's JSON: {"verdict", "score", "reasons" (why inconclusive: `reasons` from the
    data and model plus those of the candidates), "notes" (decisive regions taken for the
    object), "findings" (the shortcut candidates, most
    suspicious first, with the fields of the audit's contract), "candidates" (every one tried,
    with its suspicion, status and bounds), "per_class", "thresholds"}."""
    scored = sorted(({**c, "suspicion": round(suspicion(c), 4), "score": round(score(c), 4),
                      "status": status(c),
                      "transplant_ci": _interval(c, "flips_transplanted"),
                      "control_ci": _interval(c, "flips_control")} for c in candidates),
                    key=lambda c: (-c["score"], -c["suspicion"]))
    keys = ("class", "region", "images", "share_outside_roi", "flip_rate_removed",
            "flip_rate_transplanted", "flip_rate_control", "transplant_ci", "control_ci",
            "targets", "drop_removed", "consistency", "stereotypy", "suspicion")
    findings, seen = [], set()
    for c in scored:   # a class box and a cluster box may have shrunk to one pattern's extent
        if c["status"] == "shortcut" and (c["class"], tuple(c["region"])) not in seen:
            seen.add((c["class"], tuple(c["region"])))
            findings.append({k: c.get(k) for k in keys})
    reasons = list(reasons) + [r for r in map(_reason, scored) if r]
    name = ("shortcut suspected" if findings else "inconclusive" if reasons
            else "no shortcut found")
    notes = [_object_note(c) for c in scored if c["status"] == "object"]
    return {"verdict": name, "score": scored[0]["score"] if scored else 0.0,
            "reasons": [] if findings else reasons, "notes": notes, "findings": findings,
            "candidates": scored, "per_class": per_class,
            "thresholds": {"min_consistency": MIN_CONSISTENCY, "min_images": MIN_IMAGES,
                           "max_in_roi": MAX_IN_ROI, "flip": FLIP, "min_targets": MIN_TARGETS,
                           "min_predicted": MIN_PREDICTED, "artifact": ARTIFACT,
                           "object": OBJECT}}


def _object_note(c):
    """Why a decisive region was not counted as a shortcut."""
    where = f"region {c['region']} of class {c['class']} carries the decision"
    if c.get("outside_only") and "flips_outside" in c:
        return f"{where}, but {_pasted_without_masks(c)}; not counted as a shortcut"
    why = ("it lies inside the region of interest" if c.get("stereotypy") is None else
           f"its content differs from film to film as an object's does (stereotypy "
           f"{c['stereotypy']:.2f}, below {OBJECT})")
    return f"{where}, and {why}: {_inside_note(c)}not counted as a shortcut"


def _pasted_without_masks(c):
    """What the paste without the masks' pixels showed, as a clause."""
    return (f"it lies mostly outside the masks, and pasted without their pixels it moved "
            f"{c['flips_outside']} of {c['targets']} images (the control "
            f"{c['flips_control_outside']}): what moves the model lies inside the masks")


def _inside_note(c):
    """Why a region mostly outside the masks was judged by its content: '' for any other."""
    if c.get("in_roi") is None or c["in_roi"] >= MAX_IN_ROI or "flips_outside" not in c:
        return ""
    return _pasted_without_masks(c) + "; "


def _interval(candidate, key):
    """The 95% Wilson interval of a candidate's transplant (or control) flip rate, rounded, or
    None without counts."""
    n = candidate.get("targets")
    if not n:
        return None
    return [round(b, 4) for b in wilson(candidate[key], n)]
