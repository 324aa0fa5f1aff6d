"""One clear sentence instead of a traceback when weights or data cannot be downloaded."""
import sys
from contextlib import contextmanager


@contextmanager
def download_or_exit(what):
    """Run a block that downloads `what`; on a network failure print one sentence and exit 1."""
    try:
        yield
    except Exception as err:  # urllib, http and OS errors all surface here, wrapped differently
        if _is_network_error(err):
            print(f"Cannot download {what}: this machine has no network access to it "
                  f"({type(err).__name__}).", file=sys.stderr)
            raise SystemExit(1) from None
        raise


def _is_network_error(err):
    text = f"{type(err).__name__} {err}".lower()
    words = ("urlopen", "url fetch", "http", "connection", "name resolution", "temporary failure",
             "network", "timed out", "unreachable", "exception: url")
    return isinstance(err, OSError) or any(w in text for w in words)
