"""Start `python demo.py` on a free loopback port for a test, and stop it afterwards."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """A demo.py process serving on 127.0.0.1:<free port>, with extra command-line `args` and
    environment `env`; `url` once ready, its output in .demo_server.log (`log_text()`)."""

    def __init__(self, timeout=240, args=(), env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "3",
               **(env or {})}
        self.log_path = os.path.join(ROOT, ".demo_server.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, "demo.py", "--port", str(self.port),
                                         *args],
                                        cwd=ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"demo.py exited with {self.process.returncode}; see .demo_server.log")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"demo.py did not serve {self.url} within {timeout} s")

    def log_text(self):
        """What the server has printed so far."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
