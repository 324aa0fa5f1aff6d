"""The Audit tab: a zip of up to 200 images (and optionally a zip of masks) in, the shortcut
audit's verdict, mean maps, clusters and intervention examples out; the shipped examples'
audit is shown when the page opens. Layout only: the work is cams.app.audits."""
import gradio as gr
import numpy as np

from cams.app.audits import MAX_IMAGES
from cams.app.page import CLEAR, cleared
from cams.app.serving import HEAVY, guard
from cams.audit import figures


def info(class_names):
    """The tab's help, as Markdown: the zips it takes, with folders named for `class_names`
    (in code spans, so a path's `*` is not read as emphasis), and what the audit does."""
    shown = list(class_names)[:4]
    folders = ", ".join(f"`{name}/*.png`" for name in shown)
    folders += ", …" if len(class_names) > len(shown) else ""
    return (f"A zip of at most {MAX_IMAGES} images, in folders named for the model's classes "
            f"({folders}) or loose; optional: a zip of masks of where the evidence should be "
            "(e.g. the lung fields) with the same folders and file names. The audit looks for a "
            "place where many images' evidence sits (a marker, a label, a border), removes it "
            "and pastes it onto other classes' images, and says whether predictions follow it. "
            "See docs/audit.md.")


CLUSTER_COLUMNS = figures.EXAMPLES + 1   # a cluster's mean map, then its examples


def summary(found):
    """The verdict and what it rests on, as Markdown: the verdict, why it is inconclusive (when
    it is), the counts, the notes (defaults assumed, a test that could not run), the regions."""
    r = found.result
    lines = [f"### {r['verdict']} (score {r['score']:.2f}, a shortcut needs >= "
             f"{r['thresholds']['flip']})"]
    lines += _bullets("Why inconclusive" if r["verdict"] == "inconclusive" else "Reasons",
                      r.get("reasons"))
    lines += [f"{r['images']} images, {len(r['skipped'])} unreadable skipped; masks: "
              f"{'yes' if r['roi'] else 'no'}. Time per step: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in found.timings.items()), ""]
    lines += _bullets("Notes", r.get("notes"))
    return "\n".join(lines + _table(r["candidates"]))


def _bullets(title, sentences):
    """Markdown lines: a bold title and one bullet per sentence; none without sentences."""
    if not sentences:
        return []
    return [f"**{title}:**", ""] + [f"- {_plain(s)}" for s in sentences] + [""]


def _table(candidates):
    """Markdown lines: the regions tried, one row each, with the transplant flip rate's 95%
    bounds, the stereotypy of the region's content and the region's status."""
    if not candidates:
        return ["No region was tried: in no group of images did the evidence gather in one "
                "place."]
    bounds = " (95% bounds)" * any(c.get("transplant_ci") for c in candidates)
    head = ["class", "region (x0, y0, x1, y1)", "images", "removed: flipped",
            f"pasted: flipped{bounds}", "control", "suspicion", "stereotypy", "status"]
    lines = ["| " + " | ".join(head) + " |",
             "|---|---|" + "---:|" * (len(head) - 2)]
    for c in candidates:
        cells = [_plain(str(c["class"])), str(c["region"]), str(c["images"]),
                 _pct(c["flip_rate_removed"]),
                 _pct(c["flip_rate_transplanted"]) + _bounds(c.get("transplant_ci")),
                 _pct(c["flip_rate_control"]), f"{c['suspicion']:.2f}"]
        cells += [_fraction(c.get("stereotypy")), c.get("status") or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pct(rate):
    return "—" if rate is None else f"{rate:.0%}"


def _bounds(ci):
    return "" if not ci or None in ci else f" ({ci[0]:.0%}–{ci[1]:.0%})"


def _fraction(value):
    return "—" if value is None else f"{value:.2f}"


def _plain(text):
    """`text` with Markdown's special characters escaped, so it shows as written."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in text)


def as_grid(rows, columns):
    """A gallery's items, one row of `columns` tiles per (tiles, caption) of
    figures.cluster_rows / intervention_rows: the caption on the row's first tile, short rows
    padded with blank tiles. A gallery shows square tiles whole; a wide montage it crops."""
    blank = np.full((figures.THUMB, figures.THUMB, 3), 255, np.uint8)
    items = []
    for tiles, caption in rows:
        items += [(t, caption if k == 0 else None) for k, t in enumerate(tiles[:columns])]
        items += [(blank, None)] * (columns - min(len(tiles), columns))
    return items


def shown(found, report):
    """The tab's outputs for an Audit and its report's path."""
    return (summary(found), figures.mean_maps(found),
            as_grid(figures.cluster_rows(found), CLUSTER_COLUMNS),
            as_grid(figures.intervention_rows(found), 4), report)


def audit_tab(audits):
    """The tab; returns the event that fills it with the examples' audit (for blocks.load)."""
    def examples():
        return shown(*audits.examples())

    def audit(images_zip, masks_zip=None, progress=gr.Progress()):
        return shown(*audits.run(images_zip, masks_zip,
                                 lambda f, step: progress(f, desc=step)))

    with gr.Tab("Audit"):
        gr.Markdown(info(audits.class_names))
        with gr.Row():
            # 160 px: the drop area's icon and its three lines of text show whole (100 cut them)
            images = gr.File(label="Images (.zip)", type="binary", file_types=[".zip"],
                             height=160, elem_id="audit-images")
            masks = gr.File(label="Masks (.zip, optional)", type="binary", file_types=[".zip"],
                            height=160, elem_id="audit-masks")
        button = gr.Button("Audit", variant="primary", elem_id="audit-button")
        verdict = gr.Markdown("The shipped examples' audit appears here.",
                              elem_id="audit-verdict")
        means = gr.Gallery(label="Mean maps per class", columns=4, height="auto",
                           fit_columns=False,   # one map stays a thumbnail, not the page wide
                           object_fit="contain", elem_id="audit-means")
        groups = gr.Gallery(label="Clusters: one per row, its mean map then examples",
                            columns=CLUSTER_COLUMNS, height="auto", object_fit="contain",
                            elem_id="audit-clusters")
        proof = gr.Gallery(label="Interventions: one region per row; removed before | after, "
                           "pasted before | after", columns=4, height="auto",
                           object_fit="contain", elem_id="audit-interventions")
        report = gr.File(label="report.html", interactive=False)
    outputs = [verdict, means, groups, proof, report]
    button.click(cleared(outputs), None, outputs, **CLEAR).then(
        guard(audit), [images, masks], outputs, api_name="audit", **HEAVY)
    return dict(fn=guard(examples), inputs=None, outputs=outputs, api_visibility="private")
