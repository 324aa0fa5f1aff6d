"""The Markdown, captions and figures the page shows, formatted from what the handlers return."""
import os

import cams
from cams.io import preprocessing
from cams.app.uploads import ACCEPTED

CONVENTIONS_INFO = ("Grad-CAM++ with alphas normalized, Score-CAM with align-corners upsampling, "
                    "as tf-keras-vis computes them (the papers' forms otherwise)")
NOTE = """**Not for diagnosis.** The default model was trained on synthetic chest X-rays
(phantoms with known lesion masks) to show how Grad-CAM behaves; it has never seen a patient.
Train your own with `python -m train --data DIR --backbone mobilenetv2 --out models/mine.keras`
and load it with `python demo.py --model models/mine.keras` (or `MODEL_PATH=...`)."""
UPLOAD_LABEL = "X-ray file"
UPLOAD_INFO = f"Accepted: {ACCEPTED}."
WINDOW_INFO = "DICOM window in the file's units; moving it redraws the image and the map."
RHO_MEANS = ("A high ρ (near 1) means the map hardly changed although what the model learned "
             "was thrown away: it shows the image's own structure (edges, bright areas), not "
             "why the model decided. A low ρ (near 0) means the map depends on what the model "
             "learned, as an explanation should.")
PROBABILITIES = {  # the Label's title, by cams' kind of head
    "multiclass": "Class probabilities",
    "binary": "Class probabilities (one sigmoid unit p: the second class is p, the first 1 - p)",
    "multilabel": "Label probabilities (each label its own sigmoid: they need not sum to 1)",
    "regression": "Model output (one linear unit)"}


def probabilities_title(head, class_name):
    """The probabilities' title once a map is drawn: it names the class the map explains,
    which on a tie or a chosen target need not be the one listed first."""
    return f"{PROBABILITIES.get(head, 'Outputs')}; the map explains: {class_name}"


TRUST_INFO = ("Deletion removes the map's most important pixels first, insertion paints them "
              "onto a blurred copy first; the randomization check redraws the map after the "
              "model's learned layers above the explained one are replaced by random ones.")


def model_note(app):
    """What is loaded, and what was assumed where its card said nothing."""
    card = app.card
    text = (f"**Model:** `{os.path.basename(app.model_path)}` — classes: "
            f"{', '.join(app.classes)}; input {app.size[1]}x{app.size[0]}; preprocessing: "
            f"{preprocessing.describe(card.preprocessing)}.")
    if card.notes:
        text += " **Defaults used (no .json beside the model):** " + "; ".join(card.notes) + "."
    return text


def upload_facts(upload):
    """What the page says about an upload: kind and size, the size it is explained at, and for
    DICOM the modality, bits, the window applied and the reader's notes (nothing identifying)."""
    shown = upload.image.size
    size = f"{upload.width}x{upload.height}"
    if upload.shrunk:
        size += f", shown and explained at {shown[0]}x{shown[1]}"
    facts = upload.dicom
    if facts is None:
        return f"**{upload.kind}** · {size}"
    text = (f"**DICOM** · modality {facts.modality or 'not stated'} · {size} · "
            f"{facts.bits_stored}-bit {facts.photometric} · window: {facts.window}")
    return text + "".join(f"\n- {note}" for note in facts.notes)


def explained_line(explained):
    """One line under the overlay: backend, method and options, layer, score, class, time."""
    res = explained.explanation
    defaults = cams.METHODS[res.method].defaults   # only what the caller changed
    shown = {k: v for k, v in res.options.items() if k not in defaults or v != defaults[k]}
    return (f"{res.backend} · {res.method} ({cams.METHODS[res.method].summary}"
            + (f"; {shown}" if shown else "") + f") · layer `{res.layer}` · score "
            f"{res.score} · class **{explained.class_name}** · {explained.seconds * 1000:.0f} ms"
            + (" · true lesion outlined in white" if explained.outlined else ""))


def compare_summary(compared, agree=1e-4):
    """The largest difference between backends, whether they agree, each pair's difference and
    each backend's time, as Markdown."""
    largest = compared.largest_difference
    if not compared.differences:
        verdict = "fewer than two backends computed this map"
    elif largest <= agree:
        verdict = f"the backends agree (at most {agree:g})"
    else:
        a, b = max(compared.differences, key=compared.differences.get)
        verdict = f"**the backends differ**: {a} and {b} by {largest:.2f}"
    pairs = ["| backends | largest difference |", "|---|---:|"] + [
        f"| {a} vs {b} | {d:.2e} |" for (a, b), d in compared.differences.items()]
    times = ["| backend | time (ms) |", "|---|---:|"] + [
        f"| {b} | {s * 1000:.0f} |" for b, s in compared.seconds.items()]
    return (f"**Largest pixel difference between backends:** {largest:.2e} — {verdict} "
            f"(heatmaps in [0, 1], layer `{compared.layer}`"
            + ("; true lesion outlined in white" if compared.outlined else "") + ")\n\n"
            + "\n".join(pairs) + "\n\n" + "\n".join(times))


def short_layer(layer):
    """A layer path's last part: "mobilenetv2_0.35_224/block_13_expand_relu" -> "block_13_..."."""
    return layer.rsplit("/", 1)[-1]


def layer_choices(layers):
    """[(what a menu shows, layer path)]: the short name, or the path where two layers of
    nested models share a short name."""
    short = [short_layer(layer) for layer in layers]
    return [(name if short.count(name) == 1 else layer, layer)
            for name, layer in zip(short, layers)]


def sweep_caption(layer, shape):
    """A sweep tile's caption: the layer's short name and its map size."""
    return f"{short_layer(layer)} · {shape[0]}x{shape[1]}"


def trust_summary(trust):
    """The deletion and insertion AUCs and the randomization check's rho, in plain words."""
    text = (f"**Deletion AUC {trust.deletion_auc:.2f}** (lower is better: the probability of "
            f"*{trust.class_name}* should fall fast as the map's top pixels are removed) · "
            f"**Insertion AUC {trust.insertion_auc:.2f}** (higher is better: it should rise fast "
            f"as they are put back). {trust.method} on `{short_layer(trust.layer)}`, "
            f"{trust.backend} backend, {trust.seconds:.1f} s.\n\n")
    if trust.rho is None:
        return text + f"**Randomization check:** not possible here ({trust.rho_note})."
    if trust.rho >= 0.8:
        verdict = "high: **this map fails the check**; do not read it as the model's reasons"
    elif trust.rho >= 0.5:
        verdict = ("moderate: the map is only partly tied to what the model learned; read it "
                   "with care")
    else:
        verdict = "low: **this map passes the check**"
    return text + (f"**Randomization check: ρ = {trust.rho:.2f}**, {verdict}. ρ is the rank "
                   f"correlation between this map and the map of the same model with every "
                   f"learned layer above `{short_layer(trust.layer)}` replaced by random "
                   f"weights (Adebayo et al. 2018). {RHO_MEANS}")


def trust_figure(trust):
    """A matplotlib Figure: probability vs share of pixels removed (deletion) and inserted."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.4), dpi=100)
    ax = figure.subplots()
    ax.plot(trust.fractions, trust.deletion, color="tab:red", linewidth=2,
            label=f"deletion (AUC {trust.deletion_auc:.2f}, lower is better)")
    ax.plot(trust.fractions, trust.insertion, color="tab:blue", linewidth=2,
            label=f"insertion (AUC {trust.insertion_auc:.2f}, higher is better)")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("share of pixels removed / inserted, most important first")
    ax.set_ylabel(f"probability of {trust.class_name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.93))  # room for the page's label over the plot
    return figure
