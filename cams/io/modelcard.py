"""A trained model's card: the JSON file beside it (NAME.keras -> NAME.json) that says what its
outputs mean and what its input must be. The trainer writes it; the report, the evaluation and
the demo read it, all through this one schema.

    model, card = modelcard.load("models/mine.keras")   # defaults where the file says nothing
    modelcard.write("models/mine.keras", modelcard.ModelCard(   # writes models/mine.json
        class_names=("normal", "opacity"), input_size=(224, 224, 3),
        preprocessing="mobilenetv2"))          # a name in cams.io.preprocessing.PREPROCESSING
"""
import json
import os
from dataclasses import dataclass, field, replace

from cams.io import preprocessing

_SCHEMA = ("class_names", "input_size", "preprocessing", "preprocessing_text", "cam_layer")


@dataclass(frozen=True)
class ModelCard:
    """What a model's outputs and input mean. `details` holds whatever else the trainer
    recorded (data source, seed, metrics, ...); `notes` lists the defaults used where the card
    said nothing (never written)."""
    class_names: tuple                 # one name per class, in output order
    input_size: tuple                  # (H, W, C)
    preprocessing: str                 # a name in cams.io.preprocessing.PREPROCESSING
    cam_layer: str | None = None       # the layer path to explain by default
    details: dict = field(default_factory=dict)
    notes: tuple = ()

    @property
    def preprocess(self):
        """The function taking RGB in [0, 255] (N, H, W, 3) to the model's input."""
        return preprocessing.get(self.preprocessing)

    def to_json(self):
        """The card as the JSON object written beside the model."""
        return {"class_names": list(self.class_names), "input_size": list(self.input_size),
                "preprocessing": self.preprocessing,
                "preprocessing_text": preprocessing.describe(self.preprocessing),
                "cam_layer": self.cam_layer, **self.details}


def path_for(model_path):
    """The card's path: NAME.json beside NAME.keras or NAME.h5 (a SavedModel folder: FOLDER.json)."""
    return os.path.splitext(model_path.rstrip(os.sep))[0] + ".json"


def write(model_path, card):
    """Write the card beside the model; returns its path."""
    path = path_for(model_path)
    with open(path, "w") as f:
        json.dump(card.to_json(), f, indent=2)
    return path


PREPROCESSING_NOTE = "preprocessing unknown: pixels 0..255 are passed as they are"


def default_class_names(n_classes):
    """(names "class 0" .. "class n-1", the note saying so): what a model's classes are called
    when nothing names them."""
    return (tuple(f"class {i}" for i in range(n_classes)),
            f"class names unknown: called class 0..{n_classes - 1}")


def read(model_path, n_classes, input_size):
    """The card beside `model_path`, completed with stated defaults (listed in .notes) where it
    is missing or disagrees with the model (n_classes classes, input (H, W, C))."""
    raw = {}
    if os.path.isfile(path_for(model_path)):
        with open(path_for(model_path)) as f:
            raw = json.load(f)
    details = {k: v for k, v in raw.items() if k not in _SCHEMA}
    card = ModelCard(tuple(raw.get("class_names") or ()), tuple(raw.get("input_size") or ()),
                     raw.get("preprocessing", ""), raw.get("cam_layer"), details)
    notes = []
    if len(card.class_names) != n_classes:
        names, note = default_class_names(n_classes)
        card = replace(card, class_names=names)
        notes.append(note)
    if card.preprocessing not in preprocessing.PREPROCESSING:
        card = replace(card, preprocessing="none")
        notes.append(PREPROCESSING_NOTE)
    if not card.input_size:
        card = replace(card, input_size=tuple(input_size))
    return replace(card, notes=tuple(notes))


def load_model(model_path):
    """The Keras 3 model in a .keras file, a legacy .h5 file or a TensorFlow 2.x SavedModel
    folder, uncompiled. A Keras 2 file that Keras 3 cannot read is read by tf_keras and
    converted (cams.model.keras2), which is said in one line. FileNotFoundError when there is none."""
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"no model file at {model_path}")
    import keras

    from cams.model import keras2

    if os.path.isdir(model_path):
        print(f"note: {model_path} is a TensorFlow 2.x SavedModel; read with tf_keras and "
              "converted to Keras 3")
        return keras2.load(model_path)
    try:
        return keras.models.load_model(model_path, compile=False)
    except Exception as err:
        if not model_path.endswith((".h5", ".hdf5")):
            raise ValueError(f"cannot read {model_path} as a Keras model: {err}") from None
    print(f"note: {os.path.basename(model_path)} is a Keras 2 file that Keras 3 cannot read "
          "as it is; read with tf_keras and converted to Keras 3")
    return keras2.load(model_path)


def load(model_path):
    """(model, card): the model at `model_path` (see load_model) and its completed card.
    FileNotFoundError when there is no such file; ValueError for a model cams cannot explain,
    or one that takes images of any size when its card gives none."""
    from cams.explanation import describe

    model = load_model(model_path)
    names = [t.name for t in getattr(model, "inputs", None) or ()]
    if len(names) > 1:
        raise ValueError(
            f"{os.path.basename(model_path)} takes {len(names)} inputs ({', '.join(names)}), "
            "and the command-line tools and the demo give a model one image; explain it from "
            "Python: cams.explain(model, {name: array, ...})")
    info = describe(model)
    card = read(model_path, info.head.n_classes, info.input_shape[1:])
    if any(s is None for s in card.input_size[:2]):
        raise ValueError(
            f"{os.path.basename(model_path)} takes images of any size (input "
            f"{tuple(info.input_shape[1:])}), and the command-line tools and the demo read "
            "every image at one size: give it as the card's input_size, e.g. (224, 224, 3), "
            f"in {path_for(model_path)} (cams.io.modelcard.write)")
    return model, card
