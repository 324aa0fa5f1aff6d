"""The demo as people and programs reach it: gradio_client calls and a real headless Chromium.

Chromium is Debian's package driven by Playwright for Python (its own browser download does not
work here); .ci/run installs both. The browser test may skip only where chromium is absent
outside CI.
"""
import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.demo_server import DemoServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "models", "examples", "opacity", "2024_00001.png")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server():
    running = DemoServer()
    yield running
    running.stop()


def test_gradio_client_explains_an_upload(server):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    probs, overlay, raw, timing = client.predict(
        handle_file(EXAMPLE), "eager", "gradcam", None, "predicted class", 0.4, "jet",
        api_name="/explain")
    assert {c["label"] for c in probs["confidences"]} == {"normal", "opacity"}
    assert Image.open(overlay).size == Image.open(EXAMPLE).size
    assert "eager" in timing
    *_, timing = client.predict(
        handle_file(EXAMPLE), "graph", "scorecam", None, "opacity", 0.4, "jet", True, 4,
        api_name="/explain")
    assert "align-corners" in timing and "'top_k': 4" in timing


def test_server_survives_a_bad_upload(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), "eager", "gradcam", None, "predicted class", 0.4,
                       "jet", api_name="/explain")
    gallery, summary = client.predict(handle_file(EXAMPLE), "gradcam", None, "predicted class",
                                      api_name="/compare")
    assert len(gallery) == 3 and "Largest pixel difference" in summary


def _heat_colours(png_bytes):
    """Shares of warm (red over blue) and cool (blue over red) pixels: a gray X-ray has none."""
    rgb = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB")).astype(int)
    warm = rgb[..., 0] - rgb[..., 2] > 40
    cool = rgb[..., 2] - rgb[..., 0] > 40
    return warm.mean(), cool.mean(), rgb.shape


def test_browser_upload_explain_and_see_the_heatmap(server, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url, wait_until="networkidle", timeout=60_000)
        assert page.get_by_text("Not for diagnosis").first.is_visible()
        page.locator("#xray-input input[type=file]").set_input_files(EXAMPLE)
        page.locator("#xray-input img").first.wait_for(timeout=30_000)
        page.locator("#explain-button").click()
        overlay = page.locator("#overlay img").first
        overlay.wait_for(timeout=90_000)
        page.get_by_text("ms").last.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        shutil.copy(tmp_path / "demo.png", os.path.join(ROOT, ".demo_screenshot.png"))
        src = overlay.get_attribute("src")
        body = page.request.get(src if src.startswith("http") else server.url + src.lstrip("/")).body()
        browser.close()
    warm, cool, shape = _heat_colours(body)
    assert shape == (224, 224, 3)
    assert warm > 0.005 and cool > 0.05, f"no heatmap colours: warm {warm:.3f}, cool {cool:.3f}"
    assert _heat_colours(open(EXAMPLE, "rb").read())[:2] == (0.0, 0.0)  # the input is gray
