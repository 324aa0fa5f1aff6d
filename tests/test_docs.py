"""The documentation cannot rot: every tutorial page's python blocks run, in order, in a fresh
namespace and a temporary folder (docs/run_tutorials.py), and end with the picture the page
shows; the figures the pages show exist."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from docs import run_tutorials

ROOT = run_tutorials.ROOT
# each tutorial page -> the pictures it promises (and shows from docs/figures/tutorials/)
PICTURES = {
    "covid-vgg16.md": ["covid_gradcam.png"],
    "nested-base.md": ["nested_guided_grads.png"],
    "fashion-gradcam-plus-plus.md": ["fashion_gradcam.png"],
    "which-layer.md": ["which_layer.png"],
    "chollet-dalmatian.md": ["dalmatian.png"],
    "from-keras-io.md": ["from_keras_io.png"],
    "from-tf-keras-vis.md": ["from_tf_keras_vis.png"],
}


def test_every_tutorial_page_is_listed():
    assert sorted(os.path.basename(p) for p in run_tutorials.pages()) == sorted(PICTURES)


@pytest.mark.parametrize("page", sorted(PICTURES))
def test_the_tutorial_runs_and_draws_its_picture(page, tmp_path):
    path = os.path.join(run_tutorials.PAGES, page)
    assert len(run_tutorials.blocks(path)) >= 3, "a tutorial with no code runs vacuously"
    assert run_tutorials.run(path, str(tmp_path)) == PICTURES[page]
    for name in PICTURES[page]:
        with Image.open(tmp_path / name) as image:
            rgb = np.asarray(image.convert("RGB"))
        assert rgb.shape[0] > 100 and rgb.std() > 10, f"{name} is blank"


def test_a_failing_block_fails_the_page(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("# x\n\n```python\nvalue = 1\n```\n\n```py\nnot run\n```\n\n"
                    "```python\nassert value == 2, 'the second block sees the first'\n```\n")
    assert run_tutorials.blocks(str(page)) == ["value = 1\n", "assert value == 2, 'the second block sees the first'\n"]
    with pytest.raises(AssertionError, match="sees the first"):
        run_tutorials.run(str(page), str(tmp_path))


def test_every_figure_a_page_shows_exists():
    shown = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "docs")):
        for name in files:
            if name.endswith(".md"):
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                shown |= {os.path.normpath(os.path.join(folder, link))
                          for link in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)}
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    shown |= {os.path.join(ROOT, link) for link in re.findall(r'src="([^"]+\.png)"', readme)}
    assert os.path.join(ROOT, "docs/figures/overview.png") in shown
    assert len(shown) > 15
    assert not [p for p in shown if not os.path.isfile(p)]


def test_every_page_readme_links_to_exists():
    """README is read on GitHub and on the Space, outside the site's link check."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) > 15
    assert not [link for link in links if not os.path.isfile(os.path.join(ROOT, link))]
