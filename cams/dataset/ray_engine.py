"""The Ray engine: the same decode and ExplainStep, run by Ray Data on a cluster.

Files are decoded by Ray tasks, batches explained by a pool of actors that each load the model
once (from its path: every node must be able to read it), and the results come back to this
process, which writes the store as the local engine does. Ray is optional: only this module
imports it.
"""
import numpy as np

from cams.dataset import reader
from cams.dataset.step import ExplainStep


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError:
        raise ImportError("--engine ray needs Ray Data: pip install 'ray[data]' (or the "
                          "package's [ray] extra)") from None
    return ray


class _Decode:
    """Ray Data batch function: paths -> the step's input batch."""

    def __init__(self, size):
        self.size = size

    def __call__(self, batch):
        return reader.decode_paths(batch["row"], list(batch["path"]), batch["label"], self.size)


class _Explain(ExplainStep):
    """ExplainStep that also hands on each row's read error, and its image for overlays."""

    def __init__(self, keep_images, **kwargs):
        super().__init__(**kwargs)
        self.keep_images = keep_images

    def __call__(self, batch):
        out = super().__call__(batch)
        out["error"] = np.asarray(batch["error"], object)
        if self.keep_images:
            out["image"] = batch["image"]
        return out


def _quiet(ray):
    """Ray Data's own progress lines off: the command prints its own progress bar."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def run(model_path, step, items, rows, size, label_of, batch_size, write, on_batch,
        address=None, actors=1, keep_images=False):
    """Explain `rows` of `items` on Ray (a cluster at `address`, or a local one) with `actors`
    copies of the step; write(result, batch) and on_batch(batch, result) here, per batch.
    Returns the number of rows explained."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    _quiet(ray)
    table = [{"row": int(r), "path": items[r].path, "label": int(label_of(items[r]))}
             for r in rows]
    options = {k: v for k, v in step.settings.items()
               if k not in ("method", "backend", "layer", "score")}
    explained = (ray.data.from_items(table)
                 .map_batches(_Decode, fn_constructor_kwargs={"size": size},
                              batch_size=batch_size, batch_format="numpy", concurrency=1)
                 .map_batches(_Explain, fn_constructor_kwargs=dict(
                     keep_images=keep_images, model=model_path, method=step.settings["method"],
                     backend=step.settings["backend"], layer=step.layer,
                     classes=step.classes, score=step.settings["score"], options=options),
                     batch_size=batch_size, batch_format="numpy", concurrency=actors))
    done = 0
    for result in explained.iter_batches(batch_size=None, batch_format="numpy"):
        write(result, result)
        on_batch(result, result)
        done += len(result["row"])
    return done
