#!/usr/bin/env python3
"""Load benchmark of advd serve (release build): control-socket latency while both workers train and
hostile clients hold connections open, and how long a burst of spooled manifests takes to be recorded.

    make build && python3 bench/daemon_load.py [--idle 1000] [--requests 2000] [--burst 1000]

It starts `advd serve` in a temporary root (2 workers x 1 thread; connections per user raised so that
all the idle ones are really held), submits two copies of examples/fashion-mlp-pgd-at.yaml so that both
workers train, opens `--idle` connections that never send a byte (each re-opened when the daemon's
first-request deadline closes it), starts a thread that keeps sending malformed frames, and then sends
`status` requests one after another, one connection each (as advctl does), and reports p50/p99/max
round-trip times. Then it renames the burst of manifests into the spool and times until the job store
holds every one exactly once. Finally it stops the daemon with SIGTERM.
"""
import argparse, json, os, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time, grp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("ADVD_BIN", os.path.join(ROOT, ".build", "release"))
VERSION = 3

TINY = """dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}
model: {architecture: mlp, hidden: [16]}
train: {epochs: 1, batch_size: 32}
threat_model: {norm: linf, epsilon: 0.5}
evaluation: {attacks: [{name: fgsm}], sanity_checks: false}
"""


def request(path, command, arguments=None):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        message = {"version": VERSION, "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        s.sendall((json.dumps(message) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data)
    if not answer.get("ok"):
        raise SystemExit(f"{command} refused: {answer.get('error')}")
    return answer.get("payload")


class IdleClients(threading.Thread):
    """Holds `count` connections that never send anything, re-opening those the daemon closes."""
    def __init__(self, path, count):
        super().__init__(daemon=True)
        self.path, self.count, self.stopped, self.reopened = path, count, False, 0
        self.sockets = []

    def open(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        s.setblocking(False)
        return s

    def run(self):
        self.sockets = [self.open() for _ in range(self.count)]
        while not self.stopped:
            for i, s in enumerate(self.sockets):
                try:
                    if s.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    s.close()
                    self.sockets[i] = self.open()
                    self.reopened += 1
            time.sleep(0.2)


class Garbage(threading.Thread):
    """Keeps sending malformed frames on fresh connections."""
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stopped, self.sent = path, False, 0

    def run(self):
        frames = [b"\x00\x01\x02garbage\n", b"{\"version\": 2, \"command\": 42}\n", b"{" * 5000 + b"\n", b"not json\n"]
        while not self.stopped:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(self.path)
                s.sendall(frames[self.sent % len(frames)])
                try:
                    s.recv(65536)
                except OSError:
                    pass
            self.sent += 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1024)), hard))

    root = tempfile.mkdtemp(prefix="advd-load-")
    sock, spool = os.path.join(root, "advd.sock"), os.path.join(root, "spool")
    config = os.path.join(root, "advd.yaml")
    with open(config, "w") as f:
        f.write(f"connections: {{maximum: {args.idle + 1000}, per_user: {args.idle + 1000}}}\n")
    daemon = subprocess.Popen([os.path.join(BIN, "advd"), "serve", "--config", config, "--state-folder", os.path.join(root, "state"),
                               "--spool", spool, "--socket", sock, "--socket-group", grp.getgrgid(os.getgid()).gr_name,
                               "--dataset-root", "/usr/share/datasets", "--workers", "2", "--threads-per-job", "1"],
                              stderr=open(os.path.join(root, "advd.log"), "w"))
    idle = garbage = None
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        manifest = open(os.path.join(ROOT, "examples/fashion-mlp-pgd-at.yaml")).read()
        training = request(sock, "submit", [{"manifest": manifest, "manifestName": f"pgd-at-{i}.yaml", "priority": 0, "labels": []}
                                            for i in range(2)])
        while True:   # until both jobs are past loading the data
            jobs = request(sock, "list", {"states": ["running"]})
            if len(jobs) == 2 and all("training" in (j.get("progress") or {}).get("phase", {}) for j in jobs):
                break
            time.sleep(0.2)
        idle, garbage = IdleClients(sock, args.idle), Garbage(sock)
        idle.start()
        while len(idle.sockets) < args.idle:
            time.sleep(0.05)
        garbage.start()
        status = request(sock, "status")
        latencies = []
        for _ in range(args.requests):
            start = time.perf_counter()
            request(sock, "status")
            latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
        print(f"`status` round trips while {status['busyWorkers']} of {status['workers']} workers train, {args.idle} idle connections "
              f"are held open ({idle.reopened} re-opened after the first-request deadline closed them) and "
              f"{garbage.sent} malformed frames arrive ({args.requests} requests, one connection each):")
        print(f"  p50 {q(0.5):.2f} ms   p99 {q(0.99):.2f} ms   max {latencies[-1]:.2f} ms   mean {statistics.mean(latencies):.2f} ms")
        garbage.stopped = True

        staging = os.path.join(root, "staging")
        os.makedirs(staging)
        for i in range(args.burst):
            with open(os.path.join(staging, f"burst-{i:04d}.yaml"), "w") as f:
                f.write(TINY)
        start = time.perf_counter()
        for i in range(args.burst):
            os.rename(os.path.join(staging, f"burst-{i:04d}.yaml"), os.path.join(spool, f"burst-{i:04d}.yaml"))
        while True:
            jobs = request(sock, "list", {"states": [], "nameContains": "burst"})
            if len(jobs) >= args.burst:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        sources = {j["source"] for j in jobs}
        print(f"burst of {args.burst} manifests renamed into the spool while the idle connections stay open: all recorded in "
              f"{elapsed:.2f} s ({args.burst / elapsed:.0f}/s); {len(jobs)} jobs, {len(sources)} distinct files")
        for job in training:
            request(sock, "cancel", {"job": job})
    finally:
        if idle:
            idle.stopped = True
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
