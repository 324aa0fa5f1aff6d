"""Where `python -m cams.report` spends its time: runs the report with each metric wrapped in
resource.getrusage (the whole process, all threads) and counts the images the metrics' compiled
model sees. Prints CPU seconds per phase and per (method, phase).

    python docs/report_phases.py --model models/xray_phantoms.keras --data P

Measurement only: it wraps cams' internals, and nothing in cams imports it.
"""
import collections
import functools
import os
import resource
import sys
import time

# as `python -m cams.report` does, before TensorFlow loads (importing cams.metrics loads it)
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402

from cams import metrics, report  # noqa: E402
from cams.metrics import confidence  # noqa: E402

PHASES = {report: ["heatmaps_of"],
          metrics: ["reference_probabilities", "deletion_insertion", "road",
                    "confidence_change", "randomization_check"]}


def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([time.perf_counter(), r.ru_utime, r.ru_stime])


class Phases:
    """Wall, user and sys seconds per phase; a phase called inside another counts in it."""

    def __init__(self):
        self.spent = collections.defaultdict(lambda: np.zeros(3))
        self.depth, self.method = 0, "-"
        self.passes, self.pass_seconds = 0, 0.0

    def wrap(self, name, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth, start = 1, usage()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth, spent = 0, usage() - start
                self.spent[name] += spent
                self.spent[(self.method, name)] += spent
        return timed

    def count(self, make):
        def counting(model):
            fn = make(model)

            def run(x, classes):
                start = time.perf_counter()
                out = fn(x, classes)
                out.numpy()
                self.pass_seconds += time.perf_counter() - start
                self.passes += int(out.shape[0])
                return out
            return run
        return counting


def line(name, d):
    print(f"{str(name):42s} wall {d[0]:7.1f}  user {d[1]:7.1f}  sys {d[2]:7.1f}  "
          f"CPU {d[1] + d[2]:7.1f}")


def main(argv):
    phases = Phases()
    for module, names in PHASES.items():
        for name in names:
            setattr(module, name, phases.wrap(name, getattr(module, name)))
    score = report.score_method

    def score_method(model, x, classes, masks, has_mask, method, *args, **kwargs):
        phases.method = method
        return score(model, x, classes, masks, has_mask, method, *args, **kwargs)
    report.score_method = score_method
    confidence._probabilities_fn = phases.count(confidence._probabilities_fn)
    print("load average at start", os.getloadavg(), flush=True)
    start = usage()
    report.main(argv)
    total = usage() - start
    print("load average at end", os.getloadavg())
    line("total", total)
    named = [k for k in phases.spent if isinstance(k, str)]
    for k in named:
        line(k, phases.spent[k])
    line("the rest", total - sum(phases.spent[k] for k in named))
    for k in sorted(k for k in phases.spent if not isinstance(k, str)):
        line(k, phases.spent[k])
    print(f"metric forward passes: {phases.passes} images in {phases.pass_seconds:.1f} s wall, "
          f"{1000 * phases.pass_seconds / max(phases.passes, 1):.2f} ms each")


if __name__ == "__main__":
    main(sys.argv[1:])
