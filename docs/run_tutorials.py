"""Run the tutorials' code: every ```python block of a page in docs/tutorials/, in order, in one
fresh namespace per page, in a working folder where `models/` is the repository's. Blocks
fenced as ```py are shown, not run (they need the network or a server).

    python -m docs.run_tutorials --out docs/figures/tutorials     # run all, keep their PNGs

tests/test_docs.py runs each page the same way, so a tutorial that stops working fails the
suite; this command also saves the pictures each one ends with (in 256 colours) where the pages
show them.
"""
import argparse
import contextlib
import glob
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = os.path.join(ROOT, "docs", "tutorials")
_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def pages():
    """The tutorial pages' paths, sorted."""
    return sorted(glob.glob(os.path.join(PAGES, "*.md")))


def blocks(page):
    """The source of each ```python block of `page`, in order."""
    with open(page, encoding="utf-8") as f:
        return _BLOCK.findall(f.read())


@contextlib.contextmanager
def _inside(folder):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run(page, workdir):
    """Execute `page`'s python blocks in `workdir` (given a link `models` to the repository's);
    returns the sorted names of the PNG files the page wrote there. An error propagates, with
    the block's number in its traceback's file name."""
    import matplotlib
    matplotlib.use("Agg")

    page = os.path.abspath(page)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)  # the pages import cams and train as from the repository
    link = os.path.join(workdir, "models")
    if not os.path.exists(link):
        os.symlink(os.path.join(ROOT, "models"), link)
    namespace = {"__name__": "__tutorial__"}
    name = os.path.basename(page)
    with _inside(workdir):
        for i, source in enumerate(blocks(page), 1):
            exec(compile(source, f"{name}, block {i}", "exec"), namespace)
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(workdir, "*.png")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/tutorials",
                        help="folder for the pictures the tutorials end with")
    parser.add_argument("pages", nargs="*", help="tutorial pages (default: all)")
    args = parser.parse_args(argv)
    from PIL import Image

    from docs.figures import save_small

    os.makedirs(args.out, exist_ok=True)
    for page in args.pages or pages():
        with tempfile.TemporaryDirectory() as workdir:
            for png in run(page, workdir):
                with Image.open(os.path.join(workdir, png)) as image:
                    save_small(image, os.path.join(args.out, png))
                print(f"{os.path.basename(page)}: wrote {os.path.join(args.out, png)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
