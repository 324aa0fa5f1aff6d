"""The per-batch step: a callable that loads the model once and explains one batch of rows.

The local engine and Ray Data's `map_batches` run the same step; a batch is a dict of NumPy
arrays, one row per image, as Ray hands it:

    in:  row int64 (n,), image uint8 (n, H, W, 3), label int32 (n,) (-1: unknown), ok bool (n,)
    out: row, ok, heatmaps float16 (n, h, w) or (n, L, h, w), probabilities float32 (n, C),
         predicted int32 (n,), explained int32 (n, L)

Rows that are not ok (a file that could not be read) pass through with zero maps.
"""
import numpy as np

CLASS_CHOICES = ("predicted", "labelled", "all")


class ExplainStep:
    """Explains batches of one model with fixed settings; build once, call per batch.

    model: a Keras model, or a path that `cams.modelcard.load` reads (what a Ray worker gets);
    card: the model's `cams.modelcard.ModelCard` (read beside a path when None);
    classes: "predicted", "labelled" (each row's label) or "all" (every class: (n, L, h, w)).
    method, backend, layer, score and options are cams.explain's.
    """

    def __init__(self, model, card=None, method="gradcam", backend=None, layer=None,
                 classes="predicted", score=None, options=None):
        from cams import modelcard

        if classes not in CLASS_CHOICES:
            raise ValueError(f"classes must be one of {', '.join(CLASS_CHOICES)}; "
                             f"got {classes!r}")
        if isinstance(model, str):
            model, read_card = modelcard.load(model)
            card = card or read_card
        if card is None:
            raise ValueError("a model object needs its card (cams.modelcard.ModelCard)")
        self.model, self.card = model, card
        self.settings = dict(method=method, backend=backend, layer=layer or card.cam_layer,
                             score=score, **(options or {}))
        self.classes = classes
        self._empty = None

    def _class_index(self, labels):
        if self.classes == "predicted":
            return None
        if self.classes == "all":
            return "all"
        if (labels < 0).any():
            raise ValueError("classes='labelled' needs every row's label")
        return [int(c) for c in labels]

    def explain(self, x, labels):
        """cams.explain on preprocessed x (n, H, W, C) for these rows' labels."""
        import cams

        return cams.explain(self.model, x, class_index=self._class_index(labels),
                            **self.settings)

    def empty(self, n):
        """Zero outputs for n rows that were not explained, shaped like explained ones."""
        if self._empty is None:  # one explained blank image gives every shape
            H, W = self.card.input_size[:2]
            self._empty = self.outputs(self.explain(
                self.card.preprocess(np.zeros((1, H, W, 3), np.float32)), np.zeros(1, np.int32)))
        return {k: np.zeros((n,) + v.shape[1:], v.dtype) for k, v in self._empty.items()}

    def outputs(self, res):
        """The batch's output columns from one Explanation. Predicted is the class cams.explain
        picks (from the logits, so a tie of rounded probabilities cannot differ from it)."""
        explained = np.asarray(res.class_index, np.int32)
        predicted = (explained if self.classes == "predicted"
                     else np.argmax(res.probabilities, axis=1).astype(np.int32))
        return {"heatmaps": res.heatmaps.astype(np.float16),
                "probabilities": np.asarray(res.probabilities, np.float32),
                "predicted": predicted.reshape(-1).astype(np.int32),
                "explained": explained.reshape(len(explained), -1)}

    def __call__(self, batch):
        ok = np.asarray(batch["ok"], bool)
        labels = np.asarray(batch["label"], np.int32)
        result = self.empty(len(ok))
        if ok.any():
            x = self.card.preprocess(np.asarray(batch["image"][ok], np.float32))
            for key, value in self.outputs(self.explain(x, labels[ok])).items():
                result[key][ok] = value
        return {"row": np.asarray(batch["row"], np.int64), "ok": ok, **result}
