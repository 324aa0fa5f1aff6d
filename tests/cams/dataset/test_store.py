"""cams.dataset.store.Store: an output path that is a file is refused with a sentence."""
import pytest

from cams.dataset import store


def test_an_output_that_is_a_file_is_refused(tmp_path):
    pytest.importorskip("zarr")
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        store.Store(str(tmp_path / "taken"), {"a": 1}, 3)
    assert (tmp_path / "taken").read_text() == "mine"


def test_a_zarr_without_atomic_chunk_writes_is_refused(monkeypatch):
    """zarr before 3.1.3 wrote chunks in place: a run killed mid-write left a torn chunk."""
    import zarr

    assert store._release("3.1.6") >= store.ZARR_ATOMIC > store._release("3.1.2")
    assert store._release("3.2.0rc1") == (3, 2, 0) and store._release("4") == (4, 0, 0)
    monkeypatch.setattr(zarr, "__version__", "3.0.8")
    with pytest.raises(ImportError, match=r"zarr 3.1.3 or later.*found 3.0.8"):
        store._zarr()


def _result(rows, ok=None, classes=2):
    """A step's output for `rows`: each row's maps and probabilities carry its row number."""
    import numpy as np

    rows = np.asarray(rows, np.int64)
    n = len(rows)
    return {"row": rows, "ok": np.ones(n, bool) if ok is None else np.asarray(ok),
            "heatmaps": np.broadcast_to(rows[:, None, None] / 100, (n, 3, 3)).astype(np.float32),
            "probabilities": np.stack([rows / 100] * classes, axis=1).astype(np.float32),
            "predicted": (rows % classes).astype(np.int32),
            "explained": (rows % classes).astype(np.int32)[:, None]}


def test_batches_written_out_of_order_land_in_their_rows(tmp_path):
    """Ray hands batches back in any order, and rows within one out of order: each row's maps
    go to its own row, and only the rows written are done."""
    import numpy as np

    maps = store.Store(str(tmp_path), {"a": 1}, 10, chunk=4)
    maps.write(_result([8, 9]))
    maps.write(_result([5, 4, 7, 6]))                      # unsorted within the batch
    maps.write(_result([0, 2]), errors=["", "bad file"])  # not contiguous either
    maps.write({**_result([2]), "ok": np.zeros(1, bool)}, errors=["bad file"])
    assert list(maps.pending()) == [1, 3]
    assert maps.counts() == {"ok": 7, "unreadable": 1, "pending": 2}
    assert maps.errors() == {2: "bad file"}
    written = [0, 4, 5, 6, 7, 8, 9]
    got = maps.group["heatmaps"][:]
    assert np.allclose(got[written, 1, 1], np.asarray(written) / 100, atol=1e-3)
    assert maps.group["heatmaps"].dtype == np.float16      # maps in [0, 1] need no more
    np.testing.assert_array_equal(maps.group["predicted"][:][written], np.asarray(written) % 2)


def test_a_store_of_unknown_length_grows_as_rows_arrive(tmp_path):
    import numpy as np

    maps = store.Store(str(tmp_path), {"a": 1}, None, chunk=4)
    assert maps.counts() == {"ok": 0, "unreadable": 0, "pending": 0}
    maps.write(_result(range(0, 4)))
    maps.write(_result(range(4, 7)))
    assert maps.status.shape == (7,) and maps.group["heatmaps"].shape == (7, 3, 3)
    assert maps.counts()["ok"] == 7
    np.testing.assert_allclose(maps.group["probabilities"][:][:, 0], np.arange(7) / 100,
                               atol=1e-6)
    again = store.Store(str(tmp_path), {"a": 1}, None, chunk=4)   # a second run reopens it
    assert again.counts()["ok"] == 7


def test_reopening_with_other_settings_names_each_difference(tmp_path):
    store.Store(str(tmp_path), {"model": "a.keras", "method": "gradcam", "layer": None}, 3)
    with pytest.raises(ValueError) as err:
        store.Store(str(tmp_path), {"model": "b.keras", "method": "gradcam", "batch": 8}, 3)
    said = str(err.value)
    assert "model: 'a.keras' then, 'b.keras' now" in said
    assert "batch: None then, 8 now" in said and "layer: None then, None now" not in said
    assert "method" not in said.split("(")[1].split(")")[0]      # what is the same is not named
    assert "choose another --out" in said
