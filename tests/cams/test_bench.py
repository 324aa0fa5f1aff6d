"""The benchmark command runs end to end (on a tiny model; timings are never asserted)."""
import json

import cams
from cams import bench


def test_bench_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--model", "tiny", "--repeats", "1", "--batch", "4",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    names = [row["name"] for row in report["rows"]]
    assert names[0] == "forward pass (compiled)"
    assert {"cams eager", "cams graph", "cams tf-keras-vis", "peer: plain GradientTape",
            "peer: tf-keras-vis usual"} <= set(names)
    assert report["rows"][0]["batch4_ratio"] == 1.0
    assert all(row["batch1_s"] > 0 and row["batch4_s"] > 0 for row in report["rows"])
    assert [row["name"] for row in report["method_rows"]] == [
        m for m in cams.METHODS if m != "scorecam"]
    assert all(row["batch4_s"] > 0 for row in report["method_rows"])
    assert [row["name"] for row in report["scorecam_rows"]] == [
        "scorecam, all 8 channels", "scorecam, top 8 channels",
        "peer: tf-keras-vis Scorecam usual, top 8"]
    assert all(row["seconds_per_image"] > 0 for row in report["scorecam_rows"])
    assert [row["name"] for row in report["labels_rows"]] == [
        "forward pass (compiled)", "all 5 labels, one call", "5 separate calls"]
    assert report["labels_rows"][0]["batch1_ratio"] == 1.0
    out = capsys.readouterr().out
    assert "| cams eager |" in out and "| guided-gradcam |" in out and "x one forward" in out
    assert "| all 5 labels, one call |" in out
