"""A trained model and what its .json says about it, with stated defaults where it says nothing."""
import json
import os

import keras

from train import preprocess


def load(path):
    """(model, info dict, notes): notes list the defaults used for what no .json provided."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    model = keras.models.load_model(path, compile=False)
    info, notes = {}, []
    sidecar = path[:-len(".keras")] + ".json" if path.endswith(".keras") else path + ".json"
    if os.path.isfile(sidecar):
        with open(sidecar) as f:
            info = json.load(f)
    n_outputs = int(model.outputs[0].shape[-1])
    n_classes = 2 if n_outputs == 1 else n_outputs
    if not info.get("class_names") or len(info["class_names"]) != n_classes:
        info["class_names"] = [f"class {i}" for i in range(n_classes)]
        notes.append(f"class names unknown: called class 0..{n_classes - 1}")
    if info.get("preprocessing") not in preprocess.PREPROCESSING:
        info["preprocessing"] = "none"
        notes.append("preprocessing unknown: pixels 0..255 are passed as they are")
    info.setdefault("input_size", list(model.inputs[0].shape[1:]))
    info.setdefault("cam_layer", None)
    return model, info, notes
