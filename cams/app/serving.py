"""How demo.py serves the app like a Space on a small machine: how many requests run at once and
how many may wait, where Gradio keeps uploads and outputs (and for how long), what the log says
when a request fails, what TensorFlow may print at start-up, and whether the ImageNet tab can
get its weights.

Nothing here imports TensorFlow or Gradio at import time: demo.py sets the temporary folder and
the log levels up before either loads.
"""
import atexit
import functools
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass

log = logging.getLogger("cams.app")

# Events that may take seconds (three backends, several layers, Score-CAM, VGG16) share one slot,
# so they cannot take both cores from the Explain button, which has EXPLAIN_LIMIT of its own.
HEAVY = dict(concurrency_id="heavy", concurrency_limit=1)
EXPLAIN_LIMIT = 2           # one Explain per core on the 2-core Space hardware (--concurrency)
MAX_QUEUE = 16              # requests waiting beyond those running; more are told "busy"
TEMP_MB = 200               # MB of uploads and outputs kept, the oldest removed first
PRUNE_SECONDS = 2.0         # how often the temporary folder is measured
PNG_LEVEL = 1               # zlib level of the PNGs the page shows: lossless, fast
GRACE_SECONDS = 60.0        # a file this new is never removed (its request may be waiting in
                            # the queue, or its download under way)

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
VGG16_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_FILE
VGG16_CHECK_SECONDS = 3.0

# TensorFlow's C++ start-up lines on a machine without a GPU: the CUDA stubs that find no driver,
# and, on CPUs with AVX-512 or AMX, the notice that oneDNN's kernels are on.
NO_GPU_NOISE = re.compile(r"cudart_stub|cuda_dri|cuda_platform|cuInit|cuda_executor|"
                          r"absl::InitializeLog|Unable to register cu(DNN|FFT|BLAS) factory|"
                          r"oneDNN custom operations are on")


def setup_logging(stream=None):
    """One handler for the app's logger ("cams.app"), INFO and up, upload paths redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def redact(text, paths=()):
    """text with upload paths (anything under Gradio's temporary folder, and the given files and
    their names) replaced by <upload>: uploads may be DICOM files named after a patient."""
    roots = [p for p in (os.environ.get("GRADIO_TEMP_DIR"), *paths) if p]
    for root in roots:
        text = re.sub(re.escape(root) + r"[^\s'\"]*", "<upload>", text)
    for path in paths:
        name = os.path.basename(path)
        if len(name) > 2:
            text = text.replace(name, "<upload>")
    return text


class RedactingFormatter(logging.Formatter):
    """A Formatter whose output (message and traceback) never names an upload."""

    def format(self, record):
        return redact(super().format(record), getattr(record, "paths", ()))


def _upload_paths(args, kwargs):
    """The arguments that are paths: Gradio hands uploads to the handlers as paths."""
    values = list(args) + list(kwargs.values())
    return [v for v in values if isinstance(v, str) and os.path.isabs(v)]


def guard(fn):
    """fn for a Gradio event: what a person got wrong (BadInput, cams' ValueErrors) becomes a
    gr.Error with its message and one log line; a TypeError (a bad value through the API, or a
    bug) is shown the same way but logged with its traceback; anything else is logged with its
    traceback and shown as a short server error. No upload's path or name is logged."""
    import gradio as gr

    from cams.app.uploads import BadInput

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (BadInput, ValueError) as err:  # what the person can fix: one line
            log.info("%s refused: %s", fn.__name__, " ".join(str(err).split()),
                     extra={"paths": _upload_paths(args, kwargs)})
            raise gr.Error(str(err), print_exception=False) from None
        except TypeError as err:  # a bad value through the API, or a bug: keep the traceback
            log.warning("%s refused: %s", fn.__name__, type(err).__name__, exc_info=True,
                        extra={"paths": _upload_paths(args, kwargs)})
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:
            log.error("%s failed: %s", fn.__name__, type(err).__name__, exc_info=True,
                      extra={"paths": _upload_paths(args, kwargs)})
            raise gr.Error(f"The server failed on this request ({type(err).__name__}); it was "
                           "logged. Try again, or another image.", print_exception=False) from None
    return wrapped


def log_gradio_errors():
    """Send what Gradio's queue prints with traceback.print_exc to the app's log instead: a value
    a component refused before any handler ran (a choice not in a Dropdown, text for a Slider;
    the API lets anyone send one) in one line, anything else with its traceback, both redacted.
    Gradio reads the `traceback` module through its queue module's global; nothing else moves."""
    import traceback

    from gradio import queueing
    from gradio.exceptions import ComponentProcessingError, Error

    class Traceback:
        def __getattr__(self, name):
            return getattr(traceback, name)

        @staticmethod
        def print_exc(*args, **kwargs):
            err = sys.exc_info()[1]
            if isinstance(err, (Error, ComponentProcessingError)):
                lines = str(getattr(err, "message", err)).strip().splitlines()
                log.info("request refused: %s", lines[0] if lines else type(err).__name__)
            else:
                log.error("request failed: %s", type(err).__name__, exc_info=True)
    queueing.traceback = Traceback()


def write_output_images(png_level=PNG_LEVEL):
    """Replace how Gradio saves an output image (gradio.processing_utils.save_pil_to_cache):
    PNG at zlib level `png_level` (the same pixels; Gradio's default level 6 takes three to
    five times longer for a few per cent smaller files, and it was the largest single cost of
    an Explain request), and written under a temporary name and then renamed. Gradio names the
    file by its content and rewrote it in place when another request made the same image (two
    people explaining the same example), so a download of the first copy could read a truncated
    file."""
    import io

    from gradio import processing_utils

    real = functools.lru_cache(maxsize=8)(os.path.realpath)  # Gradio hands out resolved paths

    def encode(img, format):
        if format.lower() != "png":
            return processing_utils.encode_pil_to_bytes(img, format)
        with io.BytesIO() as buffer:
            img.save(buffer, "png", pnginfo=processing_utils.get_pil_metadata(img),
                     compress_level=png_level)
            return buffer.getvalue()

    def save_pil_to_cache(img, cache_dir, name="image", format="webp"):
        data = encode(img, format)
        folder = os.path.join(real(str(cache_dir)), processing_utils.hash_bytes(data))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.{format}")
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(staging, 0o644)
        os.replace(staging, path)
        return path
    processing_utils.save_pil_to_cache = save_pil_to_cache


class TempFiles:
    """The app's own folder for uploads and outputs (Gradio's GRADIO_TEMP_DIR), made inside
    `parent`: while it holds more than max_bytes the oldest files go first (never the ones
    present when `keep_present` was called, nor any newer than GRACE_SECONDS), and the folder is
    removed at exit. Must be made before Gradio is imported."""

    def __init__(self, max_bytes, parent=None, period=PRUNE_SECONDS, grace=GRACE_SECONDS):
        parent = parent or os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()
        os.makedirs(parent, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix="cams-demo-", dir=parent)
        self._previous = os.environ.get("GRADIO_TEMP_DIR")
        os.environ["GRADIO_TEMP_DIR"] = self.path
        self.max_bytes, self.period, self.grace = int(max_bytes), period, grace
        self.kept = frozenset()
        self._stop = threading.Event()
        atexit.register(self.remove)

    def files(self):
        """[(modification time, bytes, path)] of every file in the folder."""
        found = []
        for folder, _, names in os.walk(self.path):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime, stat.st_size, path))
        return found

    def keep_present(self):
        """Never remove the files there now (the examples the page links to)."""
        self.kept = frozenset(path for _, _, path in self.files())

    def prune(self, now=None):
        """Remove the oldest files until the folder holds at most max_bytes; its size after."""
        now = time.time() if now is None else now
        found = sorted(self.files())
        total = sum(size for _, size, _ in found)
        for mtime, size, path in found:
            if total <= self.max_bytes:
                break
            if path in self.kept or now - mtime < self.grace:
                continue
            try:
                os.remove(path)
                os.rmdir(os.path.dirname(path))  # Gradio makes one folder per file
            except OSError:
                pass
            total -= size
        return total

    def start(self):
        """Prune every `period` seconds in a daemon thread until `remove`."""
        def loop():
            while not self._stop.wait(self.period):
                try:
                    self.prune()
                except Exception:
                    log.exception("pruning the temporary folder failed")
        threading.Thread(target=loop, name="temp-files", daemon=True).start()
        return self

    def remove(self):
        """Stop pruning, delete the folder with everything in it, restore GRADIO_TEMP_DIR."""
        self._stop.set()
        shutil.rmtree(self.path, ignore_errors=True)
        if os.environ.get("GRADIO_TEMP_DIR") == self.path:
            if self._previous is None:
                os.environ.pop("GRADIO_TEMP_DIR")
            else:
                os.environ["GRADIO_TEMP_DIR"] = self._previous


def stop_on_sigterm():
    """Make SIGTERM (how a Space or a test stops the server) end the process the way Ctrl-C does:
    Gradio closes its server and atexit handlers run (the default would skip both). Returns the
    handler it replaced."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    return signal.signal(signal.SIGTERM, interrupt)


def quiet_tensorflow():
    """Import TensorFlow and look for GPUs with the C++ start-up lines of a machine without one
    (CUDA stubs that find no driver) kept off stderr; where a GPU is found, or a line is about
    something else, it is printed as it came. Returns one line naming what TensorFlow runs on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
    for line in lines:
        if gpus or not NO_GPU_NOISE.search(line):
            print(line, file=sys.stderr)
    names = ", ".join(gpu.name for gpu in gpus)
    where = f"{len(gpus)} GPU(s): {names}" if gpus else "CPU (no GPU found)"
    return f"TensorFlow {tf.__version__} on {where}"


def keras_cache(subdir="models"):
    """Where keras.utils.get_file keeps downloads: $KERAS_HOME or ~/.keras, else /tmp/.keras."""
    base = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, subdir)


@dataclass(frozen=True)
class Weights:
    """Whether the ImageNet tab can get its VGG16 weights (None: not known), and a sentence
    saying so."""
    available: bool | None
    sentence: str


def check_vgg16_weights(url=VGG16_URL, timeout=VGG16_CHECK_SECONDS):
    """Weights: cached in Keras' folder, or reachable at url within timeout seconds, or not."""
    if os.path.isfile(os.path.join(keras_cache(), VGG16_FILE)):
        return Weights(True, "The ImageNet VGG16 weights are on this machine.")
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            size = int(response.headers.get("Content-Length") or 0)
    except Exception as err:
        return Weights(False, "The ImageNet VGG16 weights cannot be downloaded on this machine "
                              f"(no network access: {type(err).__name__}), so this tab cannot "
                              "run here.")
    return Weights(True, "The ImageNet VGG16 weights are downloaded on the first click"
                   + (f" ({size / 2**20:.0f} MB, once)." if size else " (once)."))


class Background:
    """A function run in a daemon thread from now; `result(timeout)` waits for what it returned
    (or the default, if it has not finished in time)."""

    def __init__(self, fn, *args):
        self._done, self._value = threading.Event(), None

        def run():
            try:
                self._value = fn(*args)
            finally:
                self._done.set()
        threading.Thread(target=run, name=getattr(fn, "__name__", "background"),
                         daemon=True).start()

    def result(self, timeout=None, default=None):
        return self._value if self._done.wait(timeout) else default
