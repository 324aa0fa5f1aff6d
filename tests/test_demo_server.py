"""The demo as people and programs reach it: gradio_client calls and a real headless Chromium.

Chromium is Debian's package driven by Playwright for Python (its own browser download does not
work here); .ci/run installs both. The browser tests may skip only where chromium is absent
outside CI. Each browser test saves a screenshot as .demo_screenshot*.png in the repository root
(for a person to look at).
"""
import io
import json
import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from tests.cams.app.files import dicom_radiograph, identifiers
from tests.demo_server import DemoServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "models", "examples", "opacity", "2024_00001.png")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ACCEPTED = ("PNG, JPEG, TIFF, BMP or GIF", "DICOM")


@pytest.fixture(scope="module")
def server():
    running = DemoServer()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def test_gradio_client_explains_an_upload(client):
    from gradio_client import handle_file

    probs, (original, overlay), raw, files, timing = client.predict(
        handle_file(EXAMPLE), "eager", "gradcam", None, "predicted class", 0.4, "jet",
        api_name="/explain")
    assert {c["label"] for c in probs["confidences"]} == {"normal", "opacity"}
    assert Image.open(overlay).size == Image.open(original).size == Image.open(EXAMPLE).size
    assert "eager" in timing
    assert sorted(os.path.basename(f) for f in files) == [
        "explanation-gradcam-opacity.json", "heatmap-gradcam-opacity.npy",
        "overlay-gradcam-opacity.png"]
    assert np.load(next(f for f in files if f.endswith(".npy"))).shape == (14, 14)
    *_, timing = client.predict(
        handle_file(EXAMPLE), "graph", "scorecam", None, "opacity", 0.4, "jet", True, 4,
        api_name="/explain")
    assert "align-corners" in timing and "'top_k': 4" in timing


def test_server_survives_a_bad_upload(client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="not an image") as raised:
        client.predict(handle_file(str(bad)), "eager", "gradcam", None, "predicted class", 0.4,
                       "jet", api_name="/explain")
    assert all(f in str(raised.value) for f in ACCEPTED)
    gallery, summary = client.predict(handle_file(EXAMPLE), "gradcam", None, "predicted class",
                                      api_name="/compare")
    assert len(gallery) == 3 and "Largest pixel difference" in summary


def _said(result):
    """A response as text: its values and the bytes of every file it returned."""
    said = [json.dumps(result, default=str)]

    def files(value):
        if isinstance(value, (list, tuple)):
            for v in value:
                files(v)
        elif isinstance(value, dict):
            files(list(value.values()))
        elif isinstance(value, str) and os.path.isfile(value):
            with open(value, "rb") as f:
                said.append(f.read().decode("latin-1"))
    files(result)
    return said


def test_no_patient_identifier_gets_out_of_the_server(server, client, tmp_path):
    """A DICOM export with every identifier set, named after its patient, through every
    endpoint: not in a response, a returned file or the server's log."""
    from gradio_client import handle_file

    from cams.io import dicom

    path = dicom_radiograph(tmp_path, name="Quixwell_Zorbina_PID-730615-QZ.dcm")
    upload = handle_file(path)
    said = []
    preview, facts, center, width = client.predict(upload, api_name="/preview")
    np.testing.assert_array_equal(np.asarray(Image.open(preview).convert("L")),
                                  dicom.read(path).windowed())
    assert facts.startswith("**DICOM** · modality DX · 256x256")
    assert (center["value"], width["value"], center["visible"]) == (2000, 3000, True)
    said += _said([preview, facts, center, width])
    said += _said(client.predict(upload, 1500, 900, api_name="/preview"))
    explained = client.predict(upload, api_name="/explain")
    with open(next(f for f in explained[3] if f.endswith(".json"))) as f:
        assert json.load(f)["dicom"]["window"] == "centre 2000, width 3000 (from the file)"
    said += _said(explained)
    said += _said(client.predict(upload, "eager", "gradcam", None, "predicted class", 0.4, "jet",
                                 False, 0, 1500, 900, api_name="/explain"))
    said += _said(client.predict(upload, api_name="/trust"))
    said += _said(client.predict(upload, api_name="/compare"))
    said += _said(client.predict(upload, ["mobilenetv2_0.35_224/Conv1"], api_name="/sweep"))
    time.sleep(1)  # the log's last lines
    log = server.log_text()
    assert "Running on local URL" in log
    text = "\n".join(said + [log])
    assert "modality DX" in text and "gradcam" in text  # the responses were searched
    leaked = [value for value in identifiers() if value in text]
    assert not leaked


def _memory(pid):
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                found[key] = int(value.split()[0]) * 1024
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_a_40_megapixel_upload_costs_the_server_at_most_300_mb(server, client, tmp_path):
    from gradio_client import handle_file

    from tests.cams.app.test_memory import BOUND_MB, SIDE

    n = SIDE
    gray = np.zeros((n, n), np.uint8)
    gray[:] = np.linspace(40, 200, n).astype(np.uint8)[:, None]
    gray[n // 3: 2 * n // 3, n // 4: n // 2] = 220
    path = tmp_path / "big.png"
    Image.fromarray(np.stack([gray, gray, gray // 2], -1)).save(path)
    del gray
    client.predict(handle_file(EXAMPLE), api_name="/explain")  # everything traced and warm
    pid = server.process.pid
    idle = _memory(pid)["VmRSS"]
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # the server's peak starts again from now
    _, (original, overlay), *_ = client.predict(handle_file(str(path)), api_name="/explain")
    above = (_memory(pid)["VmHWM"] - idle) / 2**20
    print(f"\nserver: {n}x{n} RGB PNG ({os.path.getsize(path) / 1024:.0f} KB) peaked {above:.0f} "
          f"MB above its idle {idle / 2**20:.0f} MB")
    assert Image.open(overlay).size == (2048, 2048)
    assert above < BOUND_MB, f"{above:.0f} MB above idle"


# ----- in a browser -----

def _heat_colours(png_bytes):
    """Shares of warm (red over blue) and cool (blue over red) pixels: a gray X-ray has none."""
    rgb = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB")).astype(int)
    warm = rgb[..., 0] - rgb[..., 2] > 40
    cool = rgb[..., 2] - rgb[..., 0] > 40
    return warm.mean(), cool.mean(), rgb.shape


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        running = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
        yield running
        running.close()


@pytest.fixture
def page(browser, server):
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.goto(server.url, wait_until="networkidle", timeout=60_000)
    yield tab
    tab.close()


def _fetch(page, server, img):
    src = img.get_attribute("src")
    return page.request.get(src if src.startswith("http") else server.url + src.lstrip("/")).body()


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    shutil.copy(tmp_path / name, os.path.join(ROOT, name))


def _explained(page, prefix="#xray-input"):
    """Click Explain and wait for the original-vs-overlay slider's two images and the line."""
    page.locator("#explain-button").click()
    page.locator("#overlay img").nth(1).wait_for(timeout=90_000)
    page.locator("#timing").get_by_text(" ms").wait_for(timeout=30_000)
    return page.locator("#overlay img")


def test_browser_upload_explain_and_see_the_heatmap(page, server, tmp_path):
    page.get_by_text("Not for diagnosis").first.wait_for(timeout=30_000)  # visible, in time
    page.locator("#xray-input input[type=file]").set_input_files(EXAMPLE)
    page.locator("#xray-input-preview img").first.wait_for(timeout=30_000)
    images = _explained(page)
    page.locator("#trust-button").click()  # Can I trust this map?
    page.locator("#trust-plot img").first.wait_for(timeout=120_000)
    page.locator("#trust-text").get_by_text("Randomization check: ρ").wait_for(timeout=30_000)
    _screenshot(page, tmp_path, ".demo_screenshot.png")
    assert "Deletion AUC" in page.locator("#trust-text").inner_text()
    original, overlay = (_fetch(page, server, images.nth(i)) for i in range(2))
    warm, cool, shape = _heat_colours(overlay)
    assert shape == (224, 224, 3)
    assert warm > 0.005 and cool > 0.05, f"no heatmap colours: warm {warm:.3f}, cool {cool:.3f}"
    assert _heat_colours(original)[:2] == (0.0, 0.0)  # the slider's other side is the X-ray
    assert _heat_colours(open(EXAMPLE, "rb").read())[:2] == (0.0, 0.0)  # the input is gray
    shown = page.locator("#probabilities").inner_text()
    assert "opacity" in shown and "100%" in shown.split("opacity")[-1]  # its own probability
    assert page.locator("#downloads").get_by_text("overlay-gradcam").count() == 1


def test_browser_an_error_clears_the_previous_result(page, tmp_path):
    page.locator("#xray-input input[type=file]").set_input_files(EXAMPLE)
    page.locator("#xray-input-preview img").first.wait_for(timeout=30_000)
    _explained(page)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page.locator("#xray-input").get_by_label("Clear").first.click()  # the file's ×
    page.locator("#xray-input input[type=file]").set_input_files(str(bad))
    toast = page.get_by_text("not an image this app can read").first
    toast.wait_for(timeout=30_000)
    assert all(f in page.locator("body").inner_text() for f in ACCEPTED)
    page.wait_for_timeout(500)
    assert page.locator("#overlay img").count() == 0  # the old overlay is gone
    assert page.locator("#xray-input-preview img").count() == 0
    page.locator("#explain-button").click()  # and explaining the bad file shows nothing either
    page.wait_for_timeout(2000)
    assert page.locator("#overlay img").count() == 0
    assert "ms ·" not in page.locator("#timing").inner_text()
    _screenshot(page, tmp_path, ".demo_screenshot_error.png")


def test_browser_dicom_upload_windowed_and_explained(page, server, tmp_path):
    path = dicom_radiograph(tmp_path, name="Quixwell_Zorbina.dcm", size=320)
    page.locator("#xray-input input[type=file]").set_input_files(path)
    page.locator("#xray-input-preview img").first.wait_for(timeout=30_000)
    facts = page.locator("#xray-input-facts")
    facts.get_by_text("modality DX").wait_for(timeout=30_000)
    assert "320x320" in facts.inner_text() and "centre 2000, width 3000 (from the file)" in (
        facts.inner_text())
    center = page.locator("#xray-input-center input[type=number]")
    assert center.is_visible() and float(center.input_value()) == 2000
    own = _fetch(page, server, page.locator("#xray-input-preview img").first)
    images = _explained(page)
    before = _fetch(page, server, images.nth(1))
    # a narrower window, typed into the sliders' boxes, redraws the image and the explanation
    for box, value in (("width", "800"), ("center", "1200")):
        page.locator(f"#xray-input-{box} input[type=number]").fill(value)
        page.locator(f"#xray-input-{box} input[type=number]").press("Tab")  # as a person leaves it
        page.wait_for_timeout(300)
    facts.get_by_text("centre 1200, width 800").wait_for(timeout=30_000)
    page.locator("#timing").get_by_text(" ms").wait_for(timeout=60_000)
    page.locator("#overlay img").nth(1).wait_for(timeout=60_000)
    _screenshot(page, tmp_path, ".demo_screenshot_dicom.png")
    narrow = _fetch(page, server, page.locator("#xray-input-preview img").first)
    after = _fetch(page, server, page.locator("#overlay img").nth(1))
    gray = lambda png: np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)  # noqa
    assert np.abs(gray(narrow) - gray(own)).mean() > 10
    assert np.abs(gray(after) - gray(before)).mean() > 5
    shown = page.locator("body").inner_text() + page.content()
    leaked = [v for v in identifiers() if v in shown and v not in ("Quixwell", "Zorbina")]
    assert not leaked
    # the file's own name is the person's (their browser shows it in the upload box), but no
    # part of the page the server filled in repeats it
    outside = page.locator("#xray-input-facts").inner_text() + page.locator("#timing").inner_text()
    assert "Quixwell" not in outside and "Zorbina" not in outside


def test_browser_layer_sweep_is_compact(page, server, tmp_path):
    page.get_by_role("tab", name="Layer sweep").click()
    page.locator("#sweep-input input[type=file]").set_input_files(EXAMPLE)
    page.locator("#sweep-input-preview img").first.wait_for(timeout=30_000)
    page.locator("#sweep-button").click()
    tiles = page.locator("#sweep-gallery img")
    tiles.nth(3).wait_for(timeout=90_000)
    page.wait_for_timeout(1000)
    _screenshot(page, tmp_path, ".demo_screenshot_sweep.png")
    captions = page.locator("#sweep-gallery").inner_text()
    assert "block_13_expand_relu · 14x14" in captions and "mobilenetv2_0.35_224/" not in captions
    chips = page.locator("#sweep-layers").inner_text()
    assert "block_13_expand_relu" in chips and "mobilenetv2_0.35_224/" not in chips
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2000, f"the page is {height} px tall"
    warm, cool, _ = _heat_colours(_fetch(page, server, tiles.nth(3)))
    assert warm > 0.005 and cool > 0.05


def test_browser_compare_backends(page, server, tmp_path):
    page.get_by_role("tab", name="Compare backends").click()
    page.locator("#compare-input input[type=file]").set_input_files(EXAMPLE)
    page.locator("#compare-input-preview img").first.wait_for(timeout=30_000)
    page.locator("#compare-button").click()
    tiles = page.locator("#compare-gallery img")
    tiles.nth(2).wait_for(timeout=90_000)
    page.locator("#compare-summary").get_by_text("the backends agree").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    _screenshot(page, tmp_path, ".demo_screenshot_compare.png")
    assert page.locator("#compare-summary").get_by_text("true lesion outlined").count() == 1
    for i in range(3):
        warm, cool, _ = _heat_colours(_fetch(page, server, tiles.nth(i)))
        assert warm > 0.005 and cool > 0.05
