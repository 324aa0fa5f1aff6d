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


def add_arguments(parser, seed, verb):
    """--model, --data | --phantoms, --seed and --out: what an evaluation command reads and
    where it writes."""
    parser.add_argument("--model", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="class-per-folder set (with a masks folder for lesions)")
    source.add_argument("--phantoms", type=int, help=f"{verb} on N fresh phantoms")
    parser.add_argument("--seed", type=int, default=seed, help="phantom seed (not a training one)")
    parser.add_argument("--out", help="report path without extension (default: beside the model)")


def load_with_data(args):
    """(model, info, (images, labels, names, masks, has_mask), source text) for add_arguments'
    arguments; the notes on defaults are printed. Raises FileNotFoundError, ValueError or
    data.DataError with a message for the person."""
    from train import data

    model, info, notes = load(args.model)
    for note in notes:
        print(f"note: {note}")
    dataset = data.evaluation_set(args.data, args.phantoms, args.seed, int(info["input_size"][0]))
    if dataset[2] != info["class_names"]:
        print(f"note: data classes {dataset[2]} vs model classes {info['class_names']}")
    return model, info, dataset, args.data or f"{args.phantoms} phantoms, seed {args.seed}"
