"""The Markdown and captions the page shows, formatted from what the handlers return."""
import os

import cams
from cams import preprocessing

CONVENTIONS_INFO = ("Grad-CAM++ with alphas normalized, Score-CAM with align-corners upsampling, "
                    "as tf-keras-vis computes them (the papers' forms otherwise)")
NOTE = """**Not for diagnosis.** The default model was trained on synthetic chest X-rays
(phantoms with known lesion masks) to show how Grad-CAM behaves; it has never seen a patient.
Train your own with `python -m train --data DIR --backbone mobilenetv2 --out models/mine.keras`
and load it with `python demo.py --model models/mine.keras` (or `MODEL_PATH=...`)."""


def model_note(app):
    """What is loaded, and what was assumed where its card said nothing."""
    card = app.card
    text = (f"**Model:** `{os.path.basename(app.model_path)}` — classes: "
            f"{', '.join(app.classes)}; input {app.size}x{app.size}; preprocessing: "
            f"{preprocessing.describe(card.preprocessing)}.")
    if card.notes:
        text += " **Defaults used (no .json beside the model):** " + "; ".join(card.notes) + "."
    return text


def explained_line(explained):
    """One line under the overlay: backend, method and options, layer, score, class, time."""
    res = explained.explanation
    shown = {k: v for k, v in res.options.items() if v is not None}
    return (f"{res.backend} · {res.method} ({cams.METHODS[res.method].summary}"
            + (f"; {shown}" if shown else "") + f") · layer `{res.layer}` · score "
            f"{res.score} · class **{explained.class_name}** · {explained.seconds * 1000:.0f} ms"
            + (" · true lesion outlined in white" if explained.outlined else ""))


def compare_summary(compared):
    """The largest difference between backends and each one's time, as Markdown."""
    rows = ["| backend | time (ms) |", "|---|---:|"] + [
        f"| {b} | {s * 1000:.0f} |" for b, s in compared.seconds.items()]
    return (f"**Largest pixel difference between backends:** {compared.largest_difference:.2e} "
            f"(heatmaps in [0, 1], layer `{compared.layer}`)\n\n" + "\n".join(rows))


def sweep_caption(layer, shape):
    """A sweep tile's caption: the layer's short name and its map size."""
    return f"{layer} ({shape[0]}x{shape[1]})"
