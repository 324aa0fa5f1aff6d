"""python -m cams.bench --dataset runs end to end on a few files and reports its ratios."""
import json

from cams import bench


def test_the_dataset_benchmark_reports_ratios_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--dataset", "--images", "12", "--rss-images", "24",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for key in ("gradcam_ratio", "labels_ratio"):
        assert 0 < report[key] < 10
    assert min(report["gradcam_forward_images_per_s"].values()) > 0 and set(report["rss_mb"]) == {"24"}
    text = capsys.readouterr().out
    assert "| Grad-CAM, cams.dataset |" in text and "every label" in text and "RSS:" in text
