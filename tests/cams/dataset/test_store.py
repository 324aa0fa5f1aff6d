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
