"""cams.io.sources on CSV files as spreadsheets save them: a byte-order mark is read, a
file in another encoding, another separator or with no row gets one sentence saying what is
wrong."""
import pytest

from cams.io import images
from cams.io import sources


def test_a_spreadsheet_csv_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "list.csv").write_bytes(b"\xef\xbb\xbfpath,label\r\na.png,normal\r\n")
    [item] = sources.items_of(str(tmp_path / "list.csv"))
    assert (item.name, item.label) == ("a.png", "normal")
    assert item.path == str(tmp_path / "a.png")


@pytest.mark.parametrize("content, says", [
    (b"path,label\na.png,n\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 18\); save it as UTF-8"),
    (b"path;label\na.png;normal\n", r"needs a 'path' column .*comma-separated; found columns: "
                                    r"path;label"),
    (b"path,label\n", "has a header and no row"),
    (b"", "found columns: none"),
])
def test_a_csv_that_cannot_be_used_says_why(tmp_path, content, says):
    (tmp_path / "list.csv").write_bytes(content)
    with pytest.raises(ValueError, match=says):
        sources.items_of(str(tmp_path / "list.csv"))


def test_a_webp_image_is_listed_and_read(tmp_path):
    import numpy as np
    from PIL import Image

    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = 200
    (tmp_path / "a").mkdir()
    Image.fromarray(rgb).save(tmp_path / "a" / "film.WEBP", lossless=True)
    items = sources.items_of(str(tmp_path))
    assert [i.name for i in items] == ["a/film.WEBP"] and items[0].label == "a"
    read = images.read_image(items[0].path, 16)
    assert read.shape == (16, 16, 3) and read[:, :6].max() < 20 and read[:, -6:].min() > 180
