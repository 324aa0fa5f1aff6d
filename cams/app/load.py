"""Load on a running demo: N gradio_client clients call /explain on the shipped examples (every
few requests an upload that is not an image instead) for a fixed time or number of requests,
then print latency percentiles, refusals, errors, requests per second, the server's resident
memory over time and the machine's load average. Not a test: CI does not run it.

    python demo.py &                                    # serves 127.0.0.1:7860
    python -m cams.app.load [--url http://127.0.0.1:7860/] [--clients 8] [--seconds 60]

It talks only to a server on this machine. The server's memory is read from /proc/<pid>/status
(Linux); its pid is found from the port, or given with --pid. Exit status 1 if any request failed.
"""
import argparse
import glob
import os
import re
import tempfile
import threading
import time
from urllib.parse import urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "models", "examples")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REFUSED = "not an image"     # what the app says about the bad upload


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860/", help="a demo on this machine")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long (default 60)")
    parser.add_argument("--requests", type=int, default=None,
                        help="stop after this many requests in all (default: no limit)")
    parser.add_argument("--bad-every", type=int, default=10,
                        help="every Nth request of a client is a bad upload (0: none; default 10)")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--no-download", action="store_true",
                        help="leave the output files on the server (by default each client "
                             "downloads them, as a browser fetches the images it shows)")
    parser.add_argument("--pid", type=int, default=None, help="the server's pid (default: found "
                                                              "from the port)")
    args = parser.parse_args(argv)
    if urlparse(args.url).hostname not in LOOPBACK:
        parser.error(f"--url must be a server on this machine ({', '.join(sorted(LOOPBACK))})")
    return args


def listening_pid(port):
    """The pid of the process listening on a TCP port, from /proc (None if not found)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in inodes:
                return int(fd.split("/")[2])
        except OSError:
            continue
    return None


def cpu_seconds(pid):
    """User plus system CPU seconds a process has used, from /proc/<pid>/stat (None if not)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def rss_mb(pid):
    """A process's resident memory in MB, from /proc/<pid>/status (None if unreadable)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None


class Run:
    """What the clients saw: one (kind, seconds, server ms or None, error or None) per request."""

    def __init__(self, limit):
        self.lock, self.results, self.limit = threading.Lock(), [], limit

    def take(self):
        """Whether another request may start (the --requests budget)."""
        with self.lock:
            if self.limit is not None and self.limit <= 0:
                return False
            if self.limit is not None:
                self.limit -= 1
            return True

    def add(self, *result):
        with self.lock:
            self.results.append(result)


def client_loop(args, examples, bad, run, stop, ready):
    """One client: explain the examples in turn (a bad upload every --bad-every) until stop."""
    from gradio_client import Client, handle_file

    try:
        client = Client(args.url, verbose=False, download_files=not args.no_download)
        ready.wait()  # every client has read the API description: the clock starts
    except Exception as err:
        run.add("setup", 0.0, None, f"{type(err).__name__}: {err}")
        ready.abort()
        return
    i = 0
    while not stop.is_set() and run.take():
        i += 1
        is_bad = args.bad_every and i % args.bad_every == 0
        path = bad if is_bad else examples[i % len(examples)]
        start = time.perf_counter()
        try:
            *_, timing = client.predict(handle_file(path), args.backend, args.method, None,
                                        "predicted class", 0.4, "jet", api_name="/explain")
            found = re.search(r"(\d+) ms", timing)
            error = "a bad upload was explained" if is_bad else None
            run.add("bad" if is_bad else "explain", time.perf_counter() - start,
                    int(found.group(1)) if found else None, error)
        except Exception as err:
            seconds = time.perf_counter() - start
            expected = is_bad and REFUSED in str(err)
            run.add("bad" if is_bad else "explain", seconds, None,
                    None if expected else f"{type(err).__name__}: {err}")


def percentile(values, q):
    """The q-th percentile of values (nearest rank), NaN if there are none."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def report(args, run, seconds, rss, loads, cpu):
    """The summary, as lines; cpu is (server CPU seconds or None, this process's CPU seconds)."""
    explains = [r for r in run.results if r[0] == "explain" and r[3] is None]
    bads = [r for r in run.results if r[0] == "bad" and r[3] is None]
    errors = [r for r in run.results if r[3] is not None]
    lat = [r[1] * 1000 for r in explains]
    server = [r[2] for r in explains if r[2] is not None]
    lines = [
        f"{args.clients} clients, {seconds:.0f} s, {len(run.results)} requests to {args.url} "
        f"({args.backend} {args.method}; every {args.bad_every or 'no'}th a bad upload"
        + ("; outputs not downloaded)" if args.no_download else ")"),
        f"explain latency (ms): p50 {percentile(lat, 50):.0f}, p95 {percentile(lat, 95):.0f}, "
        f"max {max(lat, default=float('nan')):.0f} over {len(lat)}; the server's own cams "
        f"time p50 {percentile(server, 50):.0f}, p95 {percentile(server, 95):.0f}",
        f"bad uploads refused as expected: {len(bads)}; errors: {len(errors)}"
        + (f" (first: {errors[0][3][:200]})" if errors else ""),
        f"throughput: {len(run.results) / seconds:.1f} requests/s; CPU per request: server "
        + (f"{cpu[0] / max(1, len(run.results)) * 1000:.0f} ms" if cpu[0] is not None else "?")
        + f", these clients {cpu[1] / max(1, len(run.results)) * 1000:.0f} ms",
        "server RSS (MB) over time: " + (", ".join(f"{t:.0f}s {m:.0f}" for t, m in rss)
                                          if rss else "unknown (no pid)"),
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}"
        .format(*loads[0], *loads[1]),
    ]
    return lines, errors


def main(argv=None):
    args = parse(argv)
    pid = args.pid or listening_pid(urlparse(args.url).port or 80)
    examples = sorted(p for p in glob.glob(os.path.join(EXAMPLES, "*", "*.png"))
                      if os.sep + "masks" + os.sep not in p)
    with tempfile.TemporaryDirectory() as folder:
        bad = os.path.join(folder, "notes.png")
        with open(bad, "w") as f:
            f.write("not an image")
        run, stop = Run(args.requests), threading.Event()
        ready = threading.Barrier(args.clients + 1, timeout=300)
        threads = [threading.Thread(target=client_loop, args=(args, examples, bad, run, stop,
                                                             ready), daemon=True)
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            print("the clients could not connect:", *[r[3] for r in run.results], sep="\n")
            return 1
        loads, rss, start = [os.getloadavg()], [], time.perf_counter()
        cpu = [cpu_seconds(pid) if pid else None, sum(os.times()[:2])]
        while time.perf_counter() - start < args.seconds and any(t.is_alive() for t in threads):
            if pid and (not rss or time.perf_counter() - start - rss[-1][0] >= 5):
                rss.append((time.perf_counter() - start, rss_mb(pid)))
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        server_cpu = cpu_seconds(pid) if pid else None
        cpu = [server_cpu - cpu[0] if None not in (server_cpu, cpu[0]) else None,
               sum(os.times()[:2]) - cpu[1]]
        if pid:
            rss.append((seconds, rss_mb(pid)))
        loads.append(os.getloadavg())
    lines, errors = report(args, run, seconds, [r for r in rss if r[1] is not None], loads, cpu)
    print("\n".join(lines))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
