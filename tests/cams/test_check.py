"""python -m cams.check: passes on the shipped model, and fails when it should: a backend that
disagrees, a degenerate map, a model or folder that cannot be read."""
import cv2
import keras
import numpy as np
import pytest

from cams import check
from cams.io import modelcard
from tests.models import two_class_cnn

MODEL = "models/xray_phantoms.keras"
FAST = ["--max-images", "2", "--methods", "gradcam", "hirescam", "scorecam",
        "--scorecam-top-k", "4"]


def test_the_shipped_model_passes_on_its_examples(capsys):
    assert check.main(["--model", MODEL, "--images", "models/examples"] + FAST) == 0
    out = capsys.readouterr().out
    for backend in ("eager", "graph", "tf-keras-vis"):
        assert f"| gradcam | {backend} |" in out and f"| scorecam | {backend} |" in out
    assert "hirescam in tf-keras-vis: method 'hirescam' is not in tf-keras-vis" in out
    assert "PASS" in out and "FAIL" not in out


def test_a_backend_that_disagrees_fails_the_check(monkeypatch, capsys):
    import cams

    real = cams.explain

    def shifted(model, x, **kwargs):
        res = real(model, x, **kwargs)
        if kwargs.get("backend") == "graph":
            heat = res.heatmaps.copy()
            heat[..., 0, 0] = 1.0 - heat[..., 0, 0]  # one cell wrong
            return type(res)(**{**res.__dict__, "heatmaps": heat})
        return res

    monkeypatch.setattr(cams, "explain", shifted)
    assert check.main(["--model", MODEL, "--max-images", "1", "--methods", "gradcam"]) == 1
    out = capsys.readouterr().out
    assert "| gradcam | graph |" in out and "**FAIL**" in out and out.rstrip().endswith(
        "FAIL: see the rows marked FAIL")


def test_a_degenerate_map_fails_the_check(tmp_path, capsys):
    """A head whose weights are all zero: every Grad-CAM is zero, so agreement means nothing."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="last")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax",
                                                   kernel_initializer="zeros")(x))
    path = str(tmp_path / "flat.keras")
    model.save(path)
    assert check.main(["--model", path, "--max-images", "2", "--methods", "gradcam"]) == 1
    assert "| gradcam | eager | 0.0e+00 | no |" in capsys.readouterr().out


def test_unreadable_model_or_images_exit_2(tmp_path, capsys):
    assert check.main(["--model", str(tmp_path / "none.keras")]) == 2
    (tmp_path / "empty").mkdir()
    assert check.main(["--model", MODEL, "--images", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no model file" in err and "no readable image" in err


def test_random_images_are_seeded_and_smooth():
    a, b = check.random_images((32, 32, 3), 2), check.random_images((32, 32, 3), 2)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.std() > 10
    assert np.abs(np.diff(a.astype(int), axis=1)).mean() < 20  # smooth, not white noise


def test_a_card_is_used_when_present(tmp_path):
    card = modelcard.read(MODEL, 2, (224, 224, 3))
    assert card.preprocessing == "mobilenetv2"
    with pytest.raises(SystemExit):
        check.parse(["--model", MODEL, "--methods", "magic"])


def small(path):
    """A seeded two-class CNN saved at `path`, without a card."""
    two_class_cnn(convs=2, filters=8).save(path)
    return path


def test_every_backend_explains_the_class_the_first_one_predicted(monkeypatch, tmp_path, capsys):
    """The tf-keras-vis backend made to predict the other class, as it did where a seeded
    MobileNetV2's two probabilities were equal to float rounding: the check must still compare
    maps of one class (it failed every backend by 0.95 before)."""
    import cams

    real = cams.explain

    def other_way(model, x, **kwargs):
        if kwargs.get("backend") == "tf-keras-vis" and kwargs.get("class_index") is None:
            kwargs["class_index"] = 1 - real(model, x, **{**kwargs, "backend": "eager"}
                                                 ).class_index
        return real(model, x, **kwargs)

    monkeypatch.setattr(cams, "explain", other_way)
    path = small(str(tmp_path / "small.keras"))
    assert check.main(["--model", path, "--max-images", "2", "--methods", "gradcam"]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("args, says", [(["--max-images", "0"], "at least 1"),
                                        (["--scorecam-top-k", "0"], "at least 1"),
                                        (["--tolerance", "-1"], "must be a number >= 0"),
                                        (["--tolerance", "nan"], "must be a number >= 0")])
def test_counts_and_tolerance_out_of_range_are_refused(args, says, capsys):
    with pytest.raises(SystemExit) as stop:
        check.parse(["--model", MODEL] + args)
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_nothing_computed_is_no_pass(tmp_path, capsys):
    """A one-channel model, which the check's RGB images do not fit: every backend refuses,
    and a table with no row must not read PASS."""
    path = str(tmp_path / "gray.keras")
    two_class_cnn((16, 16, 1)).save(path)
    assert check.main(["--model", path, "--max-images", "1", "--methods", "gradcam"]) == 1
    out = capsys.readouterr().out
    assert "nothing was checked" in out and "PASS" not in out


def test_a_non_square_model_is_checked_on_a_folder(tmp_path, capsys):
    path = str(tmp_path / "wide.keras")
    two_class_cnn((24, 40, 3), convs=2, filters=8).save(path)
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (60, 50, 3), np.uint8))
    assert check.main(["--model", path, "--images", str(folder), "--methods", "gradcam"]) == 0
    assert "| gradcam | eager |" in capsys.readouterr().out
