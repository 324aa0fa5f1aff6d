"""The reference recipes as commands: offline they fail in one sentence, and they run."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, tmp_path):
    """Run `python -m args...` with no reachable network and an empty Keras cache."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home"), "PYTHONPATH": ROOT,
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    return str(path)


@pytest.mark.parametrize("args, what", [
    (["reference.chollet_vgg16", "PHOTO", "--weights", "imagenet"], "the VGG16 ImageNet weights"),
    (["reference.keras_io_gradcam", "PHOTO", "--weights", "imagenet"],
     "the Xception ImageNet weights"),
    (["reference.tf_keras_vis_recipe"], "the Fashion-MNIST data set"),
])
def test_download_failure_is_one_sentence(tmp_path, photo, args, what):
    result = run([photo if a == "PHOTO" else a for a in args], tmp_path)
    assert result.returncode == 1
    assert f"Cannot download {what}" in result.stderr
    assert "Traceback" not in result.stderr


def test_chollet_recipe_runs_with_random_weights(tmp_path, photo):
    result = run(["reference.chollet_vgg16", photo, "--weights", "none", "--out", "out"],
                 tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Predicted (random weights" in result.stdout
    cam = cv2.imread(str(tmp_path / "out" / "photo_cam.jpg"))
    heat = cv2.imread(str(tmp_path / "out" / "photo_heatmap.png"))
    assert cam.shape == heat.shape == (60, 80, 3)
