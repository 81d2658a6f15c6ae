#!/usr/bin/env python3
"""Load benchmark of advd serve (release build): control-socket latency while both workers train,
and how long a burst of 1,000 spooled manifests takes to be recorded.

    make build && python3 bench/daemon_load.py [--requests 2000] [--burst 1000]

It starts `advd serve` in a temporary root (2 workers x 1 thread), submits two copies of
examples/fashion-mlp-pgd-at.yaml so that both workers train, then sends `status` requests over the
Unix socket one after another and reports p50/p99/max round-trip times; then it drops the burst of
manifests into the spool (each written elsewhere and renamed in) and times until the job store holds
every one, checking that each was recorded exactly once. Finally it stops the daemon with SIGTERM.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")

TINY = """dataset: {name: blobs, classes: 3, dimensions: 8, train_examples: 240, test_examples: 60}
model: {architecture: mlp, hidden: [16]}
train: {epochs: 1, batch_size: 32}
threat_model: {norm: linf, epsilon: 0.5}
evaluation: {attacks: [{name: fgsm}], sanity_checks: false}
"""


def request(path, payload):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall((json.dumps(payload) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="advd-load-")
    sock = os.path.join(root, "advd.sock")
    spool = os.path.join(root, "spool")
    daemon = subprocess.Popen([os.path.join(BIN, "advd"), "serve", "--config", os.path.join(ROOT, "etc/advd/advd.yaml"),
                               "--state-folder", os.path.join(root, "state"), "--spool", spool, "--socket", sock,
                               "--workers", "2", "--threads-per-job", "1"], stderr=open(os.path.join(root, "advd.log"), "w"))
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        manifest = open(os.path.join(ROOT, "examples/fashion-mlp-pgd-at.yaml")).read()
        training = [request(sock, {"version": 1, "command": "submit", "manifest": manifest,
                                   "manifestName": "fashion-mlp-pgd-at.yaml"})["submitted"][0] for _ in range(2)]
        # wait until both jobs are past loading the data and training
        while True:
            jobs = request(sock, {"version": 1, "command": "list", "states": ["running"]})["jobs"]
            if len(jobs) == 2 and all((j.get("progress") or {}).get("phase") == "training" for j in jobs):
                break
            time.sleep(0.2)
        status = request(sock, {"version": 1, "command": "status"})["status"]
        latencies = []
        for _ in range(args.requests):
            start = time.perf_counter()
            request(sock, {"version": 1, "command": "status"})
            latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
        print(f"advctl-equivalent `status` round trips while {status['busyWorkers']} of {status['workers']} workers train "
              f"({args.requests} requests, one connection each):")
        print(f"  p50 {q(0.5):.2f} ms   p99 {q(0.99):.2f} ms   max {latencies[-1]:.2f} ms   mean {statistics.mean(latencies):.2f} ms")

        staging = os.path.join(root, "staging")
        os.makedirs(staging)
        for i in range(args.burst):
            with open(os.path.join(staging, f"burst-{i:04d}.yaml"), "w") as f:
                f.write(TINY)
        start = time.perf_counter()
        for i in range(args.burst):
            os.rename(os.path.join(staging, f"burst-{i:04d}.yaml"), os.path.join(spool, f"burst-{i:04d}.yaml"))
        while True:
            jobs = request(sock, {"version": 1, "command": "list", "name": "burst"})["jobs"]
            if len(jobs) >= args.burst:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        sources = {j["source"] for j in jobs}
        print(f"burst of {args.burst} manifests renamed into the spool: all recorded in {elapsed:.2f} s "
              f"({args.burst / elapsed:.0f}/s); {len(jobs)} jobs, {len(sources)} distinct files, "
              f"{len(os.listdir(os.path.join(spool, 'accepted')))} in accepted/")
        for job in training:
            request(sock, {"version": 1, "command": "cancel", "job": job})
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
