"""Train a chest X-ray classifier: a backbone plus a small head, on a folder or on phantoms.

    python -m train --data DIR | --phantoms N  --backbone B --weights imagenet|none
                    --epochs E --out models/NAME.keras

Writes NAME.keras, NAME.json (class names, input size, preprocessing, default Grad-CAM layer,
data source, seed, metrics), NAME_curves.png and NAME_confusion.png.
"""
import argparse
import os
import sys
import time
from dataclasses import dataclass

from train import BACKBONES


class UsageError(Exception):
    """Arguments that cannot work together: reported with the usage line, exit status 2."""


class RunError(Exception):
    """A run that cannot go on (no data, no download): one line on stderr, exit status .code."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def augmenter(seed, flip="horizontal"):
    """Rotation +-15 degrees, flips (`flip`: a keras RandomFlip mode), contrast and zoom, on
    pixels in [0, 255]."""
    import keras

    return keras.Sequential([
        keras.layers.RandomRotation(15 / 360, fill_mode="constant", seed=seed),
        keras.layers.RandomFlip(flip, seed=seed + 1),
        keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 2),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed + 3),
    ], name="augment")


def save_best(model, path):
    """A callback saving `model` (the full classifier, whatever is being fitted) when val_loss
    improves."""
    import keras
    import numpy as np

    class SaveBest(keras.callbacks.Callback):
        best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss", np.inf)
            if loss < self.best:
                self.best = loss
                model.save(path)

    return SaveBest()


@dataclass(frozen=True)
class Data:
    """The training set: uint8 RGB images, labels, class names, lesion masks (or None)."""
    images: object
    labels: object
    names: list
    masks: object
    source: str

    def part(self, idx):
        """(images, labels, masks or None) of the indices `idx`."""
        return self.images[idx], self.labels[idx], None if self.masks is None else self.masks[idx]


def load_data(args):
    """Data from --data or --phantoms; RunError when unusable or when guidance lacks masks."""
    from train import data

    try:
        if args.phantoms:
            images, labels, names, masks = data.generate_phantoms(args.phantoms, args.seed,
                                                                  args.size)
            found = Data(images, labels, names, masks,
                         f"phantoms: {args.phantoms} generated with seed {args.seed}")
        else:
            images, labels, names, paths = data.load_folder(args.data, args.size)
            masks, has = data.load_masks(args.data, paths, args.size)
            found = Data(images, labels, names, masks if has.any() else None,
                         f"folder: {os.path.abspath(args.data)}")
    except data.DataError as err:
        raise RunError(str(err)) from None
    if args.mask_guidance and found.masks is None:
        from cams.io.images import MASKS_DIR

        raise RunError("--mask-guidance needs lesion masks: use --phantoms, or a folder with a "
                       f"{MASKS_DIR}/ folder beside the class folders")
    return found


def fit(args, net, base, head, train, val, prep, callbacks):
    """Train; with a frozen base, on its features computed once (same model, far faster).

    train and val are (images, labels, masks or None); with --mask-guidance the masks also
    supervise where the class map fires (train.guidance)."""
    import keras

    from train import data, guidance, model as models

    optimizer = keras.optimizers.Adam(args.lr)
    loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    frozen = (args.weights != "none" or args.freeze_base) and not args.fine_tune
    timing = {}
    if args.mask_guidance:
        trainer = guidance.GuidedTrainer(net, head, args.mask_guidance)
        augment = None if args.no_augment else augmenter(args.seed, args.flip)
        fit_data = data.dataset(train[0], train[1], args.batch_size, prep, args.seed,
                                augment=augment, masks=train[2])
        val_data = data.dataset(val[0], val[1], args.batch_size, prep, args.seed,
                                shuffle=False, masks=val[2])
        path = (f"end to end, class map guided by the lesion masks (weight {args.mask_guidance})"
                + ("" if augment is None else " with augmentation"))
        loss = metrics = None
    elif frozen and not args.no_cache_features:
        start = time.perf_counter()
        features = [base.predict(data.dataset(x, y, args.batch_size, prep, args.seed,
                                              shuffle=False), verbose=0)
                    for x, y, _ in (train, val)]
        timing["feature_extraction_s"] = time.perf_counter() - start
        trainer = models.head_model(base, head)
        fit_data = data.dataset(features[0], train[1], args.batch_size, lambda f: f, args.seed)
        val_data = data.dataset(features[1], val[1], args.batch_size, lambda f: f, args.seed,
                                shuffle=False)
        path = "cached features (frozen base, no augmentation)"
    else:
        trainer = net
        augment = None if args.no_augment else augmenter(args.seed, args.flip)
        fit_data = data.dataset(*train[:2], args.batch_size, prep, args.seed, augment=augment)
        val_data = data.dataset(*val[:2], args.batch_size, prep, args.seed, shuffle=False)
        path = "end to end" + ("" if augment is None else " with augmentation")
    trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    start = time.perf_counter()
    history = trainer.fit(fit_data, validation_data=val_data, epochs=args.epochs,
                          callbacks=callbacks, verbose=args.verbose, shuffle=False)
    timing["training_s"] = time.perf_counter() - start
    timing["seconds_per_epoch"] = timing["training_s"] / max(1, len(history.history["loss"]))
    return history.history, path, timing


def parse(argv=None):
    """(parser, arguments), checked; parsed before TensorFlow loads, so --help is instant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="class-per-folder image set")
    source.add_argument("--phantoms", type=int, help="train on N generated phantoms")
    parser.add_argument("--backbone", choices=BACKBONES, default="mobilenetv2")
    parser.add_argument("--weights", choices=("imagenet", "none"), default="imagenet")
    parser.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2 width multiplier")
    parser.add_argument("--flat", action="store_true", help="inline the base instead of nesting")
    parser.add_argument("--fine-tune", action="store_true", help="also train the base's last block")
    parser.add_argument("--freeze-base", action="store_true",
                        help="freeze the base even with random weights")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--size", type=int, default=224, help="model input size")
    parser.add_argument("--base-size", type=int,
                        help="run the base at this size (the model resizes its input first)")
    parser.add_argument("--pooling", choices=("avg", "max"), default="avg",
                        help="global pooling of the mobilenetv2/densenet121 head")
    parser.add_argument("--base-end", help="keep the backbone only up to this layer (a finer "
                                               "last feature map, as CAM networks do)")
    parser.add_argument("--cam-layer", help="Grad-CAM layer name inside the base to record")
    parser.add_argument("--mask-guidance", type=float, default=0.0, metavar="WEIGHT",
                        help="where lesion masks are known, also train the class map to fire "
                             "inside them, with this loss weight (0: labels only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--flip", choices=("horizontal", "horizontal_and_vertical"),
                        default="horizontal", help="random flips of the augmentation")
    parser.add_argument("--no-cache-features", action="store_true",
                        help="train end to end even when the base is frozen")
    parser.add_argument("--verbose", type=int, default=1, help="Keras progress: 0, 1 or 2")
    parser.add_argument("--out", default="models/xray.keras")
    args = parser.parse_args(argv)
    if not args.out.endswith(".keras"):
        parser.error("--out must end with .keras")
    if args.epochs < 1 or not 0 < args.val_split < 1:
        parser.error("--epochs must be >= 1 and --val-split in (0, 1)")
    if args.mask_guidance < 0:
        parser.error("--mask-guidance must be >= 0")
    return parser, args


def build_model(args, n_classes):
    """(net, base, head layers, recorded CAM layer path); UsageError for options that do not
    fit the backbone, RunError when ImageNet weights cannot be downloaded."""
    from train import guidance, model as models

    weights = None if args.weights == "none" else "imagenet"
    try:
        net, base, head = models.build(args.backbone, n_classes, args.size, weights,
                                       nested=not args.flat, fine_tune=args.fine_tune,
                                       alpha=args.alpha, freeze=args.freeze_base or None,
                                       base_size=args.base_size, pooling=args.pooling,
                                       base_end=args.base_end)
        cam_layer = models.default_cam_layer(args.backbone, base, nested=not args.flat,
                                             name=args.cam_layer)
        if args.mask_guidance:
            guidance.check_head(head)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except Exception as err:  # a download that cannot happen here: say so in one sentence
        if weights and ("URL fetch failure" in str(err) or isinstance(err, OSError)):
            raise RunError(f"cannot download the {args.backbone} ImageNet weights (no network); "
                           "use --weights none", code=1) from None
        raise
    return net, base, head, cam_layer


def choose_cam_layer(net, found, val_idx, prep, default, fixed):
    """(layer path, table or None): with lesion masks and no --cam-layer (fixed False), the
    layer whose Grad-CAM points at the validation lesions best; else `default`."""
    import numpy as np

    from train import camlayer

    if fixed or found.masks is None:
        return default, None
    with_mask = val_idx[found.masks[val_idx].any(axis=(1, 2))]
    if not len(with_mask):  # only empty (all-black) masks among the validation images
        return default, None
    x_val = prep(found.images[with_mask].astype(np.float32))
    return camlayer.choose(net, x_val, found.masks[with_mask], found.labels[with_mask])


def write_outputs(args, argv, found, layer, layer_table, history, path, timing, metrics,
                  n_train, n_val):
    """The model card (NAME.json) and the curves and confusion figures beside the model."""
    import numpy as np

    from cams.io import modelcard
    from train import plots

    details = {
        "backbone": args.backbone, "weights": args.weights, "alpha": args.alpha,
        "nested": not args.flat, "pooling": args.pooling, "base_end": args.base_end,
        "base_size": args.base_size or args.size, "data_source": found.source, "seed": args.seed,
        "mask_guidance": args.mask_guidance, "n_train": n_train, "n_validation": n_val,
        "training_path": path, "epochs_run": len(history["loss"]), "timing": timing,
        "validation_metrics": metrics,
        "cam_layer_selection": None if layer_table is None else {
            "rule": "highest validation pointing game, then energy in mask",
            "pointing_game_and_energy": layer_table},
        "command": "python -m train " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    card = modelcard.ModelCard(tuple(found.names), (args.size, args.size, 3), args.backbone,
                               layer, details)
    modelcard.write(args.out, card)
    stem = args.out[:-len(".keras")]
    plots.curves(history, stem + "_curves.png")
    plots.confusion(np.asarray(metrics["confusion"]), found.names, stem + "_confusion.png")


def train(args, argv):
    """Every step of a run: data, model, fit, CAM layer, card and figures."""
    import keras
    import numpy as np

    from cams.io import preprocessing
    from train import classification, data

    keras.utils.set_random_seed(args.seed)
    found = load_data(args)
    train_idx, val_idx = data.split(found.labels, args.val_split, args.seed)
    net, base, head, cam_layer = build_model(args, len(found.names))
    prep = preprocessing.get(args.backbone)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    stop = keras.callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True)
    history, path, timing = fit(args, net, base, head, found.part(train_idx),
                                found.part(val_idx), prep, [stop, save_best(net, args.out)])
    net.save(args.out)  # the restored best weights, in the same file the checkpoint used
    probabilities = net.predict(prep(found.images[val_idx].astype(np.float32)),
                                batch_size=args.batch_size, verbose=0)
    metrics = classification.summary(found.labels[val_idx], probabilities)
    layer, table = choose_cam_layer(net, found, val_idx, prep, cam_layer,
                                    fixed=args.cam_layer is not None)
    write_outputs(args, argv, found, layer, table, history, path, timing, metrics,
                  int(len(train_idx)), int(len(val_idx)))
    print(f"validation accuracy {metrics['accuracy']:.3f}, ROC AUC {metrics['roc_auc']:.3f} "
          f"({path}); wrote {args.out} and {args.out[:-len('.keras')]}.json")


def main(argv=None):
    parser, args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        train(args, argv)
    except UsageError as err:
        parser.error(str(err))
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
