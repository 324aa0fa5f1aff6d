"""The audit benchmark's tables, from its rows (one per model and method): each row's verdict
is taken again from its candidates with the audit's current rule (cams.audit.verdict), so that
earlier runs are summarized under today's thresholds.

Per cell (architecture, domain, method, masks, and optionally the marker kind and the
contamination): how many shortcut models were flagged, with the 95% Wilson interval; how many
clean models were flagged (false alarms) and how many were called inconclusive; the AUROC of
the score; the median IoU of the reported region with the marker's zone; Sun et al.'s
confounder sensitivity (the share of the marker's pixels inside each map's top 10%); clean
models' map mass inside the lungs.
"""
import numpy as np

LEARNED = 0.8      # a model counts when its balanced accuracy (as trained) reaches this


def iou(a, b):
    """Intersection over union of boxes [x0, y0, x1, y1)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def auroc(scores, positive):
    """Area under the ROC curve of `scores` for the boolean `positive` (ties count half)."""
    s, p = np.asarray(scores, float), np.asarray(positive, bool)
    pos, neg = s[p], s[~p]
    if not len(pos) or not len(neg):
        return None
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum())
                 / (len(pos) * len(neg)))


def confounder_sensitivity(maps, marker, top=0.1):
    """Sun et al. (2023): per image, the share of the marker's pixels that lie in the map's
    `top` share of pixels; their mean over the images that carry a marker, or None when none
    does. maps float (N, H, W); marker bool (N, H, W)."""
    shares = []
    for m, k in zip(maps, marker):
        if k.any():
            shares.append(float((m >= np.quantile(m, 1 - top))[k].mean()))
    return float(np.mean(shares)) if shares else None


def rescored(rows):
    """The rows of models that learned, each with "verdict", "score" and "flagged" taken again
    from its candidates (and the reasons the data gave) with the current rule."""
    from cams.audit.verdict import verdict

    out = []
    for r in rows:
        if not r.get("learned", True):
            continue
        v = verdict(r["candidates"], {}, r.get("untestable", ()))
        out.append({**r, "verdict": v["verdict"], "score": v["score"],
                    "flagged": v["verdict"] == "shortcut suspected",
                    "inconclusive": v["verdict"] == "inconclusive",
                    "best": v["candidates"][0]["region"] if v["candidates"] else None})
    return out


def cell(r, by=()):
    """The key a row is summarized under: architecture (rows written before --arch: the CNN of
    their "blocks"), domain, method, masks, then the fields of `by` (e.g. "kind", "share")."""
    arch = r.get("arch") or f"cnn{r.get('blocks', 4)}"
    return (arch, r.get("domain", "phantoms"), r["method"], r["roi"]) + tuple(
        r.get(k) for k in by)


def _rate(flags):
    """"k/n = p [low, high]" (Wilson 95%) of a list of booleans, or None when empty."""
    from cams.audit.verdict import wilson

    if not flags:
        return None
    k, n = int(sum(flags)), len(flags)
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.2f} [{low:.2f}, {high:.2f}]"


def summary(rows, by=()):
    """One dict per cell (see cell), in the rows' order. A shortcut row's "kind" and "share"
    name its marker; a clean row is pooled into every cell of its architecture, domain, method
    and masks (its model saw no marker), so that each cell has its clean controls."""
    rows = rescored(rows)
    cells = {}
    for r in rows:
        if r["shortcut"]:
            cells.setdefault(cell(r, by), [])
    for r in rows:
        keys = [cell(r, by)] if r["shortcut"] or not by else [
            k for k in cells if k[:4] == cell(r)]
        for k in keys:
            cells.setdefault(k, []).append(r)
    return [_one(key, sel, by) for key, sel in cells.items()]


def _one(key, sel, by):
    bad = [r for r in sel if r["shortcut"]]
    clean = [r for r in sel if not r["shortcut"]]
    ious = [r["iou"] for r in bad if r["flagged"] and r.get("iou") is not None]
    return {
        "arch": key[0], "domain": key[1], "method": key[2], "roi": key[3],
        **dict(zip(by, key[4:])),
        "flagged": _rate([r["flagged"] for r in bad]),
        "false_alarms": _rate([r["flagged"] for r in clean]),
        "inconclusive_clean": _rate([r["inconclusive"] for r in clean]),
        "inconclusive_shortcut": _rate([r["inconclusive"] for r in bad]),
        "auroc": auroc([r["score"] for r in sel], [r["shortcut"] for r in sel]),
        "median_iou": float(np.median(ious)) if ious else None,
        "sensitivity": _mean(bad, "confounder_sensitivity"),
        "clean_mass_in_lungs_opacity": _mean(clean, "mass_in_lungs_opacity"),
        "audit_s": _mean(sel, "seconds")}


def _mean(rows, key):
    """The mean of rows' `key` where they have it, or None."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def markdown(table):
    """The summary as a Markdown table."""
    def f(v):
        return "—" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)
    keys = list(table[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(f(r[k]) for k in keys) + " |" for r in table])
