"""The per-batch step: a callable that loads the model once and explains one batch of rows.

The local engine and Ray Data's `map_batches` run the same step; a batch is a dict of NumPy
arrays, one row per image, as Ray hands it:

    in:  row int64 (n,), image uint8 (n, H, W, 3), label int32 (n,) (-1: unknown), ok bool (n,)
    out: row, ok, heatmaps float32 (n, h, w) or (n, L, h, w), probabilities float32 (n, C),
         predicted int32 (n,), explained int32 (n, L)

Rows that are not ok (a file that could not be read) pass through with zero maps.
"""
import numpy as np

CLASS_CHOICES = ("predicted", "labelled", "all")


class ExplainStep:
    """Explains batches of one model with fixed settings; build once, call per batch.

    Every batch is explained at the size of the largest seen so far (a smaller last batch is
    padded, so that a backend compiled per batch shape compiles once), and at the layer the
    first batch was explained at (a blank default layer is replaced once, not per batch).

    The method, backend, layer, score and options are cams.explain's.

    Args:
        model (keras.Model | str): a Keras model, or a path that `cams.io.modelcard.load` reads
            (what a Ray worker gets).
        card (cams.io.modelcard.ModelCard | None): the model's preprocessing, input size and
            layer. Read beside a path when None; for a model object, None means the batches
            arrive preprocessed.
        classes (str): "predicted", "labelled" (each row's label) or "all" (every class:
            maps (n, L, h, w)).
    """

    def __init__(self, model, card=None, method="gradcam", backend=None, layer=None,
                 classes="predicted", score=None, options=None):
        from cams import explanation
        from cams.io import modelcard
        from cams.model import keras2

        if classes not in CLASS_CHOICES:
            raise ValueError(f"classes must be one of {', '.join(CLASS_CHOICES)}; "
                             f"got {classes!r}")
        if isinstance(model, str):
            model, read_card = modelcard.load(model)
            card = card or read_card
        self.model, self.card = model, card
        self.preprocess = card.preprocess if card else (lambda x: x)
        self.input_size = (tuple(card.input_size) if card
                           else tuple(explanation.describe(keras2.as_keras3(model))
                                      .input_shape[1:]))
        self.settings = dict(method=method, backend=backend,
                             layer=layer or (card.cam_layer if card else None),
                             score=score, **(options or {}))
        self.classes = classes
        self.batch_size = 0  # the largest batch seen: smaller ones are padded to it
        self._layer = self.settings["layer"]  # where the first batch was explained
        self._shapes = None  # {column: (shape of a row, dtype)}, from the first explained batch

    @property
    def layer(self):
        """The path of the layer the batches were explained at (the settings' before any)."""
        return self._layer

    def explain_at(self, layer):
        """Explain every batch at `layer`: the one an earlier run of the same store chose."""
        self._layer = layer

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

        settings = {**self.settings, "layer": self._layer}
        res = cams.explain(self.model, x, class_index=self._class_index(labels),
                           batch_size=max(self.batch_size, len(x)), **settings)
        self._layer = res.layer
        return res

    def empty(self, n):
        """Zero outputs for n rows that were not explained, shaped like explained ones."""
        if self._shapes is None:  # no batch explained yet: one blank image gives every shape
            import warnings

            import cams
            from cams.model import keras2

            chosen = self._layer
            # at the layer itself: a blank image's maps are blank everywhere, and must not
            # move the default layer (nor warn that they do)
            self._layer = chosen or cams.resolve_layer(keras2.as_keras3(self.model)).path
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = self.outputs(self.explain(
                    self.preprocess(np.zeros((1,) + self.input_size[:2] + (3,), np.float32)),
                    np.zeros(1, np.int32)))
            self._layer = chosen  # the first readable batch chooses it
            self._shapes = {k: (v.shape[1:], v.dtype) for k, v in res.items()}
        return {k: np.zeros((n,) + shape, dtype) for k, (shape, dtype) in self._shapes.items()}

    def outputs(self, res):
        """The batch's output columns from one Explanation. Predicted is the class cams.explain
        picks (from the logits, so a tie of rounded probabilities cannot differ from it).
        Heatmaps stay float32: a store keeps them as float16."""
        explained = np.asarray(res.class_index, np.int32)
        predicted = (explained if self.classes == "predicted"
                     else np.argmax(res.probabilities, axis=1).astype(np.int32))
        return {"heatmaps": np.asarray(res.heatmaps, np.float32),
                "probabilities": np.asarray(res.probabilities, np.float32),
                "predicted": predicted.reshape(-1).astype(np.int32),
                "explained": explained.reshape(len(explained), -1)}

    def __call__(self, batch):
        ok = np.asarray(batch["ok"], bool)
        labels = np.asarray(batch["label"], np.int32)
        self.batch_size = max(self.batch_size, len(ok))
        if not ok.any():
            result = self.empty(len(ok))
        else:
            x = self.preprocess(np.asarray(batch["image"][ok], np.float32))
            explained = self.outputs(self.explain(x, labels[ok]))
            self._shapes = {k: (v.shape[1:], v.dtype) for k, v in explained.items()}
            result = self.empty(len(ok))
            for key, value in explained.items():
                result[key][ok] = value
        return {"row": np.asarray(batch["row"], np.int64), "ok": ok, **result,
                "layer": np.full(len(ok), self._layer or "", object)}
