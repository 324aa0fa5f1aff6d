"""OUT/report.html: renders what the audit computed (an `Audit`) as one self-contained page,
figures (cams.audit.figures) embedded as base64 PNG. It computes nothing new."""
import base64
import html
import io

import numpy as np

from cams.audit import figures


def png(rgb, alt=""):
    """An <img> tag holding uint8 RGB (H, W, 3) as a base64 PNG, with its alt text."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, "PNG")
    return (f'<img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')


def _figures(pairs):
    return "".join(f"<figure>{png(p, c)}<figcaption>{html.escape(c)}</figcaption></figure>"
                   for p, c in pairs)


def _table(rows, keys):
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v):
    if isinstance(v, float):
        return f"{v:.2f}"
    return "—" if v is None else html.escape(str(v))


def _roi_histograms(found):
    if found.data.roi is None:
        return ("<h2>Share inside the region of interest</h2><p>No masks given (--roi): the "
                "audit looked for evidence that sits in the same place across images.</p>")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = found.roi_share
    fig, ax = plt.subplots(figsize=(5, 2.4), dpi=80)
    for c, name in enumerate(found.class_names):
        if (found.predicted == c).any():
            ax.hist(share[found.predicted == c], bins=20, range=(0, 1), alpha=0.6, label=name)
    ax.set_xlabel("share of the map's mass inside the region of interest")
    ax.set_ylabel("images")
    ax.legend(title="predicted")
    fig.tight_layout()
    canvas = fig.canvas
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    least = "".join(f"<li>{html.escape(k)}: " + ", ".join(
        f"{html.escape(n)} ({s:.2f})" for n, s in v["share_in_roi"]["least"]) + "</li>"
        for k, v in found.result["per_class"].items() if "share_in_roi" in v)
    return ("<h2>Share inside the region of interest</h2>"
            + png(rgb, "histograms of each map's share of mass inside the region, per class")
            + f"<p>Images with the least inside, per predicted class:</p><ul>{least}</ul>")


def _interventions(found):
    keys = ("class", "group", "region", "images", "consistency", "in_roi",
            "share_outside_roi", "flip_rate_removed", "drop_removed", "flip_rate_transplanted",
            "transplant_ci", "flip_rate_control", "control_ci", "targets", "stereotypy",
            "resemblance", "suspicion", "status")
    parts = ["<h2>Interventions</h2><p>Each candidate region was removed from the images whose "
             "evidence sits in it (filled from the surrounding pixels, as ROAD does) and pasted "
             "onto images predicted another class; the control pastes the same box from images "
             "of the target's own class. Group: 'class' when the region was found over all "
             "the images predicted the class, a number for one cluster of them. Stereotypy: "
             "how alike the images' content is inside the region once the other classes' "
             "mean is taken away, as three pairs of images in four match at least (an "
             "artifact copied onto the films: towards 1; the object, different on each film: "
             "about 0 to 0.1). Resemblance: the same pairs' mean; with stereotypy low and "
             "resemblance 0.3 or more, some of the images look alike there and others do not "
             "('unclear'). Status: 'shortcut', 'object' (it carries the "
             "decision, and its content varies as the object's does), 'unclear', 'too few' "
             "images to tell, 'not significant', or 'no effect'.</p>",
             _table(found.result["candidates"], keys)]
    parts.append(_figures(figures.intervention_examples(found)))
    return "".join(parts)


def _notes(notes):
    """What the verdict rests on beyond the data (defaults assumed where the model's card said
    nothing, a test that could not run), as a list (nothing when there is nothing to say)."""
    if not notes:
        return ""
    return ("<p>Notes: what the audit assumed, and what it could not test:</p><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")


def _reasons(reasons):
    """Why the audit is inconclusive, as a list (nothing when it is not)."""
    if not reasons:
        return ""
    return ("<p>Why the audit cannot tell:</p><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in reasons) + "</ul>")


def render(found):
    """The report as one HTML string (no external file or script)."""
    r = found.result
    findings = (_table(r["findings"], list(r["findings"][0])) if r["findings"] else
                "<p>No region is both decisive and an artifact (see the reasons and notes above, "
                "and every region tried below).</p>")
    timings = _table([r.get("timings_s", found.timings)], list(found.timings))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
             "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}figure{"
             "display:inline-block;margin:6px}.bad{color:#b00}.ok{color:#060}.unsure{color:#a60}")
    cls = {"shortcut suspected": "bad", "inconclusive": "unsure"}.get(r["verdict"], "ok")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Shortcut audit</title>"
            f"<style>{style}</style></head><body><h1 class='{cls}'>{html.escape(r['verdict'])}"
            f"</h1><p>Score {r['score']:.2f} (the largest suspicion weighted by how far its region "
            f"looks like an artifact; a shortcut needs >= {r['thresholds']['flip']} and more), "
            f"{r['images']} images ({len(r['skipped'])} unreadable skipped), method "
            f"{html.escape(str(r['method']))} at layer {html.escape(str(r['layer']))}, masks: "
            f"{'yes' if r['roi'] else 'no'}. Thresholds: "
            f"{html.escape(', '.join(f'{k} {v}' for k, v in r['thresholds'].items()))}."
            f"</p>{_reasons(r.get('reasons', ()))}{_notes(r.get('notes', ()))}"
            f"<h2>Findings</h2>{findings}"
            f"<h2>Time per step (s)</h2>{timings}"
            + "<h2>Where the evidence is: mean maps per class</h2>"
            + _figures(figures.mean_maps(found)) + _roi_histograms(found)
            + "<h2>Groups of images explained alike (spectral clustering, k by eigengap)</h2>"
            + _figures(figures.cluster_montages(found)) + _interventions(found)
            + "</body></html>")
