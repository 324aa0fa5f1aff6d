"""demo.py served like a Space (cams/app/serving.py): a start-up log without CUDA noise, one log
line per refused request and no upload's name, the temporary folder bounded by size and gone
when the server stops, heavy events in their own slot and a bounded queue, the ImageNet tab's
verdict at start-up, an instant --help.

One server for the module (started with a small temporary-folder bound and a queue of 1); the
tests after it need neither TensorFlow nor a server.
"""
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.demo_server import DemoServer, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "models", "examples", "opacity", "2024_00001.png")
BOUND_MB = 2
GRACE_S = 4  # a response's files outlive its download (grace 0 raced the client: 403)
EXPLAIN = ("eager", "gradcam", None, "predicted class", 0.4, "jet")
NOISE = re.compile(r"E0000|I0000|W0000|cuda_dri|cudart_stub|cuInit|absl::InitializeLog")


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """The folder given as GRADIO_TEMP_DIR, in which the server makes its own."""
    return tmp_path_factory.mktemp("gradio-temp")


@pytest.fixture(scope="module")
def server(parent):
    running = DemoServer(args=["--temp-dir-mb", str(BOUND_MB), "--temp-grace-s", str(GRACE_S),
                               "--max-queue", "1"],
                         env={"GRADIO_TEMP_DIR": str(parent), "TF_CPP_MIN_LOG_LEVEL": "2"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def temp_folder(parent):
    (folder,) = [p for p in parent.iterdir() if p.name.startswith("cams-demo-")]
    return folder


def folder_bytes(folder):
    """The bytes of the files under folder, while the server may be removing some of them (a
    file or folder gone between listing and reading counts as nothing)."""
    total = 0
    for root, _, files in os.walk(folder):   # os.walk skips a folder that vanished
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def test_start_up_log_is_clean(server):
    text = server.log_text()
    assert not NOISE.search(text), text
    assert re.search(r"TensorFlow [\d.]+ on (CPU|\d+ GPU)", text)
    assert "Traceback" not in text


def test_imagenet_tab_says_at_start_up_whether_it_can_run(server):
    config = urllib.request.urlopen(server.url + "config", timeout=30).read().decode()
    markdown = [c["props"].get("value") or "" for c in json.loads(config)["components"]
                if c["type"] == "markdown"]
    assert any(re.search(r"ImageNet VGG16 weights (are on this machine|are downloaded on the "
                         r"first click|cannot be downloaded)", m) for m in markdown)


def test_a_refused_upload_is_one_log_line_naming_no_file(server, client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "Doe_Jane_1961-04-02.png"
    bad.write_text("not an image")
    before = server.log_text()
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), *EXPLAIN, api_name="/explain")
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio's own check
        client.predict(handle_file(EXAMPLE), "eager", "gradcam", None, "tumour", 0.4, "jet",
                       api_name="/explain")
    time.sleep(0.5)
    new = server.log_text()[len(before):]
    assert [line for line in new.splitlines() if "refused" in line] == [
        line for line in new.splitlines() if line.strip()], new
    assert len(new.splitlines()) == 2 and "not an image" in new and "tumour" in new
    assert "Doe_Jane" not in server.log_text() and "Traceback" not in new


def test_temp_folder_stays_under_its_bound_and_keeps_the_examples(parent, client, tmp_path):
    from gradio_client import handle_file

    folder = temp_folder(parent)
    examples = {f for f in folder.rglob("*.png") if f.name.startswith("2024_")}
    assert examples  # gr.Examples' copies, which the page links to
    rng = np.random.default_rng(0)
    for i in range(4):  # about 1 MB each, and an overlay as large: 8 MB through a 2 MB folder
        path = tmp_path / f"noise{i}.png"
        Image.fromarray(rng.integers(0, 255, (600, 600, 3), dtype=np.uint8)).save(path)
        client.predict(handle_file(str(path)), *EXPLAIN, api_name="/explain")
    deadline = time.time() + GRACE_S + 20
    while folder_bytes(folder) > BOUND_MB * 2**20 and time.time() < deadline:
        time.sleep(0.5)
    assert folder_bytes(folder) <= BOUND_MB * 2**20
    assert all(f.exists() for f in examples)


def layers(server):
    """The Layer sweep's choices, deepest first."""
    config = json.loads(urllib.request.urlopen(server.url + "config", timeout=30).read())
    (choices,) = [c["props"]["choices"] for c in config["components"]
                  if c["props"].get("label") == "Layers"]
    return [value for _, value in choices][::-1]


def test_a_full_queue_turns_requests_away(server, client):
    from gradio_client import handle_file

    # Score-CAM's top 16 channels: about a second on two cores; one runs, one waits (queue 1).
    jobs = [client.submit(handle_file(EXAMPLE), layers(server)[:1], "scorecam",
                          api_name="/sweep") for _ in range(5)]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(len(job.result(timeout=120)))
        except Exception as err:
            outcomes.append(str(err))
    assert 1 in outcomes
    assert any("Queue is full" in str(o) for o in outcomes), outcomes


def test_heavy_events_share_one_slot_and_explain_has_its_own(server, client):
    from gradio_client import handle_file

    sweep = client.submit(handle_file(EXAMPLE), layers(server)[:3], "scorecam",
                          api_name="/sweep")  # seconds
    time.sleep(0.5)
    client.predict(handle_file(EXAMPLE), *EXPLAIN, api_name="/explain")
    assert not sweep.done()  # Explain did not wait for the sweep
    compare = client.predict(handle_file(EXAMPLE), "gradcam", None, "predicted class",
                             api_name="/compare")  # under a second alone
    assert sweep.done()  # Compare did
    assert len(sweep.result()) == 3 and len(compare[0]) == 3


def test_stopping_the_server_removes_its_temp_folder(server, parent):
    temp_folder(parent)
    server.stop()
    assert server.process.returncode == 0
    assert not [p for p in parent.iterdir() if p.name.startswith("cams-demo-")]
    assert "Traceback" not in server.log_text()


def test_help_is_instant_and_names_every_option_and_variable():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "demo.py", "--help"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert time.perf_counter() - start < 3  # TensorFlow alone takes longer to import
    # (tests/test_structure.py checks that --help loads neither TensorFlow nor Gradio)
    for name in ("--model", "--port", "--host", "--concurrency", "--max-queue", "--temp-dir-mb",
                 "--temp-grace-s", "MODEL_PATH", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT",
                 "CAMS_CONCURRENCY", "CAMS_MAX_QUEUE", "CAMS_TEMP_DIR_MB", "CAMS_TEMP_GRACE_S",
                 "GRADIO_TEMP_DIR", "TF_CPP_MIN_LOG_LEVEL"):
        assert name in out


def test_temp_files_prune_the_oldest_first_and_spare_the_kept_and_the_new(tmp_path, monkeypatch):
    from cams.app.serving import TempFiles

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "before"))
    temp = TempFiles(max_bytes=300, parent=tmp_path, grace=10)
    assert os.environ["GRADIO_TEMP_DIR"] == temp.path

    def put(name, age):
        os.makedirs(os.path.join(temp.path, name))
        path = os.path.join(temp.path, name, "f.png")
        with open(path, "wb") as f:
            f.write(b"x" * 100)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    kept = put("kept", 1000)
    temp.keep_present()
    old, older, oldest, new = put("old", 100), put("older", 200), put("oldest", 300), put("new", 1)
    assert temp.prune() == 300
    assert [os.path.exists(p) for p in (kept, old, older, oldest, new)] == [
        True, True, False, False, True]
    assert not os.path.exists(os.path.dirname(oldest))  # Gradio's one folder per file too
    temp.remove()
    assert not os.path.exists(temp.path)
    assert os.environ["GRADIO_TEMP_DIR"] == str(tmp_path / "before")


def test_vgg16_weights_found_in_the_keras_cache_or_refused_quickly(tmp_path, monkeypatch):
    from cams.app import serving

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    start = time.perf_counter()
    closed = f"http://127.0.0.1:{free_port()}/w.h5"  # nothing listens there
    refused = serving.check_vgg16_weights(url=closed, timeout=2)
    assert not refused.available and "cannot be downloaded" in refused.sentence
    assert time.perf_counter() - start < 3
    os.makedirs(tmp_path / "models")
    (tmp_path / "models" / serving.VGG16_FILE).write_bytes(b"h5")
    assert serving.check_vgg16_weights(url=closed).available


def test_guard_logs_a_refusal_in_one_line_and_a_failure_with_its_traceback(tmp_path):
    import gradio as gr

    from cams.app import serving
    from cams.app.uploads import BadInput

    upload = tmp_path / "Roe_Richard.dcm"
    upload.write_bytes(b"DICM")
    stream = io.StringIO()
    serving.setup_logging(stream)

    def explain(path):
        raise BadInput(f"cannot read {path}") if path.endswith("dcm") else RuntimeError(path)

    with pytest.raises(gr.Error, match="cannot read"):
        serving.guard(explain)(str(upload))
    with pytest.raises(gr.Error, match="server failed on this request"):
        serving.guard(explain)(str(tmp_path / "Roe_Richard.png"))
    text = stream.getvalue()
    assert "explain refused: cannot read <upload>" in text.splitlines()[0]
    assert "explain failed: RuntimeError" in text and "Traceback" in text
    assert "Roe_Richard" not in text


def test_output_images_are_lossless_and_whole_while_the_same_one_is_downloaded(tmp_path, monkeypatch):
    import threading

    from gradio import processing_utils

    from cams.app import serving

    monkeypatch.setattr(processing_utils, "save_pil_to_cache", processing_utils.save_pil_to_cache)
    serving.write_output_images()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8))
    path = processing_utils.save_img_array_to_cache(np.asarray(image), str(tmp_path), "png")
    size, short, done = os.path.getsize(path), [], threading.Event()

    def download():
        while not done.is_set():
            with open(path, "rb") as f:
                if len(f.read()) != size:
                    short.append(1)

    reader = threading.Thread(target=download)
    reader.start()
    for _ in range(60):  # another request makes the same image
        assert processing_utils.save_img_array_to_cache(np.asarray(image), str(tmp_path),
                                                        "png") == path
    done.set()
    reader.join()
    assert not short
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no staging files
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(image))  # lossless
