"""cams.dataset.store.Store: an output path that is a file is refused with a sentence."""
import pytest

from cams.dataset import store


def test_an_output_that_is_a_file_is_refused(tmp_path):
    pytest.importorskip("zarr")
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        store.Store(str(tmp_path / "taken"), {"a": 1}, 3)
    assert (tmp_path / "taken").read_text() == "mine"
