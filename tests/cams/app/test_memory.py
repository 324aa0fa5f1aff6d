"""A 40-megapixel upload must not cost the server more than about 300 MB: measured as the peak
resident memory of a fresh process while the page's explain endpoint runs, above what the same
process held once loaded, warmed up and done with a first small explanation."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
BOUND_MB = 300
SIDE = 6320  # 39.9 megapixels, just under the app's 40-megapixel limit

MEASURE = """
import json, os, sys, time
import cv2, numpy as np
from PIL import Image

def big_png(path, n):
    # An RGB chest-like picture of n x n pixels: compresses to a small PNG, decodes to 3 n^2
    # bytes (PIL holds 4 n^2).
    gray = np.zeros((n, n), np.uint8)
    gray[:] = np.linspace(40, 200, n).astype(np.uint8)[:, None]
    for cx in (n // 3, 2 * n // 3):
        cv2.ellipse(gray, (cx, n // 2), (n // 7, n // 3), 0, 0, 360, 90, -1)
    cv2.circle(gray, (n // 3, n // 2), n // 20, 230, -1)
    Image.fromarray(np.stack([gray, gray, (gray * 0.9).astype(np.uint8)], -1)).save(path)

def memory():
    found = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            key, value = line.split(":")
            found[key] = int(value.split()[0]) * 1024
    return found

path, n = sys.argv[1], int(sys.argv[2])
big_png(path, n)
from cams.app import handlers, imagenet, page
app = handlers.App("models/xray_phantoms.keras", "models/examples")
app.warm_up()
explain = page.endpoints(app, imagenet.ImageNetDemo())["explain"]
explain(app.examples[0])
import gc; gc.collect()
idle = memory()["VmRSS"]
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from now
start = time.perf_counter()
probs, (original, overlay), raw, files, line = explain(path)
print(json.dumps({"idle": idle, "peak": memory()["VmHWM"], "seconds": time.perf_counter() - start,
                  "overlay": list(overlay.shape), "png_bytes": os.path.getsize(path),
                  "record": json.load(open(files[2]))["image"]}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_a_40_megapixel_upload_costs_at_most_300_mb(tmp_path):
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "big.png"), str(SIDE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    above = (found["peak"] - found["idle"]) / 2**20
    print(f"\n{SIDE}x{SIDE} RGB PNG ({found['png_bytes'] / 1024:.0f} KB): peak {above:.0f} MB "
          f"above the idle process ({found['idle'] / 2**20:.0f} MB), {found['seconds']:.1f} s")
    assert found["overlay"] == [2048, 2048, 3]
    assert found["record"] == {"kind": "PNG", "width": SIDE, "height": SIDE,
                               "explained_at": [2048, 2048], "model_input": [224, 224]}
    assert above < BOUND_MB, f"{above:.0f} MB above idle"
