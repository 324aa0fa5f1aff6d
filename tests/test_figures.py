"""docs/figures.py, the command that draws README's and the site's figures, on a small case:
two methods on the shipped model, every figure but the demo screenshot (the browser tests in
test_demo_server.py drive the same page elements)."""
import numpy as np
import pytest
from PIL import Image

from docs import figures


def _warm_share(path):
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return (rgb[..., 0] - rgb[..., 2] > 60).mean()


def test_the_figures_command_draws_each_figure(tmp_path):
    assert figures.main(["--out", str(tmp_path), "--methods", "gradcam,hirescam"]) == 0
    for name in ("methods", "layers", "metrics"):
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.width > 400 and image.height > 150, name
    assert sorted(p.name for p in (tmp_path / "methods").iterdir()) == ["gradcam.png",
                                                                         "hirescam.png"]
    assert _warm_share(tmp_path / "methods.png") > 0.002  # heat drawn, not only gray X-rays
    assert _warm_share(tmp_path / "layers.png") > 0.002


def test_a_fresh_phantom_and_its_outline_on_a_copy():
    rgb, mask = figures.lesion_phantom(seed=3, size=64)
    assert rgb.shape == (64, 64, 3) and mask.any()
    drawn = figures.outlined(rgb, mask)
    assert (drawn == 255).all(axis=-1).sum() > (rgb == 255).all(axis=-1).sum()
    assert not np.shares_memory(drawn, rgb)


def test_an_unknown_figure_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        figures.parse(["--only", "methods,heatmaps"])
    assert "metrics" in capsys.readouterr().err


def test_readme_overview_puts_the_grid_beside_the_demo(tmp_path):
    Image.new("RGB", (400, 300), "red").save(tmp_path / "grid.png")
    Image.new("RGB", (1280, 1000), "blue").save(tmp_path / "demo.png")
    figures.overview_figure(tmp_path / "grid.png", tmp_path / "demo.png", tmp_path / "both.png")
    with Image.open(tmp_path / "both.png") as both:
        rgb = np.asarray(both.convert("RGB"))
    assert rgb.shape == (300, 400 + 12 + 384, 3)
    assert (rgb[:, :400] == (255, 0, 0)).all() and (rgb[:, -384:] == (0, 0, 255)).all()


def test_the_audit_figure_shows_the_pasted_box_that_flips_the_shortcut_model(tmp_path):
    models = figures.train_audit_pair(str(tmp_path), size=48, n_train=240, epochs=8, seed=5,
                                  n_audit=60, kind="label")
    path = figures.audit_figure(models, tmp_path / "audit.png")
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    # Two rows of four panels; the box the verdict rests on is drawn in green (0, 255, 0) on
    # the shortcut model's mean map and on the film before and after the paste.
    assert rgb.shape[1] > 4 * 100 and rgb.shape[0] > 2 * 100
    green = (rgb[..., 1] > 200) & (rgb[..., 0] < 80) & (rgb[..., 2] < 80)
    bottom = green[rgb.shape[0] // 2:]
    assert bottom[:, rgb.shape[1] // 2:].sum() > 50  # before and after the paste
    assert green[:rgb.shape[0] // 2].sum() == 0       # the clean model: no box
    assert _warm_share(path) > 0.002
