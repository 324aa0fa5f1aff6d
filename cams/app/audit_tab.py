"""The Audit tab: a zip of up to 200 images (and optionally a zip of masks) in, the shortcut
audit's verdict, mean maps, clusters and intervention examples out; the shipped examples'
audit is shown when the page opens. Layout only: the work is cams.app.audits."""
import gradio as gr
import numpy as np

from cams.app.audits import MAX_IMAGES
from cams.app.page import CLEAR, cleared
from cams.app.serving import HEAVY, guard
from cams.audit import figures

INFO = (f"A zip of at most {MAX_IMAGES} images, in class folders (normal/*.png, opacity/*.png) "
        "or loose; optional: a zip of masks of where the evidence should be (e.g. the lung "
        "fields) with the same folders and file names. The audit looks for a place where many "
        "images' evidence sits (a marker, a label, a border), removes it and pastes it onto "
        "other classes' images, and says whether predictions follow it. See docs/audit.md.")


CLUSTER_COLUMNS = figures.EXAMPLES + 1   # a cluster's mean map, then its examples


def summary(found):
    """The verdict and what it rests on, as Markdown."""
    r = found.result
    lines = [f"### {r['verdict']} (score {r['score']:.2f}, flagged at >= "
             f"{r['thresholds']['flip']})",
             f"{r['images']} images, {len(r['skipped'])} unreadable skipped; masks: "
             f"{'yes' if r['roi'] else 'no'}. Time per step: "
             + ", ".join(f"{k} {v:.1f} s" for k, v in found.timings.items()), "",
             "| class | region (x0, y0, x1, y1) | images | removed: flipped | pasted: flipped "
             "| control | suspicion |", "|---|---|---:|---:|---:|---:|---:|"]
    for c in r["candidates"]:
        lines.append(f"| {c['class']} | {c['region']} | {c['images']} | "
                     f"{_pct(c['flip_rate_removed'])} | {_pct(c['flip_rate_transplanted'])} | "
                     f"{_pct(c['flip_rate_control'])} | {c['suspicion']:.2f} |")
    return "\n".join(lines)


def _pct(rate):
    return "—" if rate is None else f"{rate:.0%}"


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
        gr.Markdown(INFO)
        with gr.Row():
            images = gr.File(label="Images (.zip)", type="binary", file_types=[".zip"],
                             height=100, elem_id="audit-images")
            masks = gr.File(label="Masks (.zip, optional)", type="binary", file_types=[".zip"],
                            height=100, elem_id="audit-masks")
        button = gr.Button("Audit", variant="primary", elem_id="audit-button")
        verdict = gr.Markdown("The shipped examples' audit appears here.",
                              elem_id="audit-verdict")
        means = gr.Gallery(label="Mean maps per class", columns=4, height="auto",
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
