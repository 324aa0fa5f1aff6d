"""python -m cams.bench --dataset runs end to end on a few files and reports its ratios, each
the step's marginal speed over the faster forward pipeline's."""
import json

import pytest

from cams import bench
from cams.dataset import bench as dataset_bench


def test_the_dataset_benchmark_reports_ratios_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--dataset", "--images", "12", "--dataset-batch", "2",
                       "--rss-images", "24", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["from_image"] == 4
    for key in ("gradcam", "labels"):
        forward = report[f"{key}_forward_images_per_s"]
        assert set(forward) == {"tf.data", "threads"} and min(forward.values()) > 0
        assert report[f"{key}_ratio"] == pytest.approx(
            report[f"{key}_images_per_s"] / max(forward.values()))
    assert set(report["rss_mb"]) == {"24"}
    text = capsys.readouterr().out
    assert "| Grad-CAM, cams.dataset |" in text and "every label" in text and "RSS:" in text
    assert "from image 4 to the last" in text


def test_the_clock_counts_from_the_mark_to_the_last_image(monkeypatch):
    """Marginal speed: the images after the batch that passes the mark, over the time since
    that batch; a slow start (tracing, the first reads) does not count."""
    now = iter([100.0, 101.0, 103.0])            # the mark's batch, then the last reading
    monkeypatch.setattr(dataset_bench.time, "perf_counter", lambda: next(now))
    clock = dataset_bench._Clock(start_at=10)
    clock.tick(8)                                 # before the mark: not timed
    clock.tick(8)                                 # passes it at 16 images, t = 100
    clock.tick(8)
    clock.tick(8)                                 # 32 images; read at t = 101
    assert clock.images_per_s() == pytest.approx(16 / 1.0)
    with pytest.raises(ValueError, match="more than 10 images"):
        short = dataset_bench._Clock(start_at=10)
        short.tick(12)
        short.images_per_s()
