"""Runs a few seeds of the simulator in this checkout and sends each failure to the hub, as the
guide's `vopr.zig --send=<address> --simulations=N`."""
import argparse
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fingerprint import fingerprint  # noqa: E402


def post(hub, path, body):
    request = urllib.request.Request(f"http://{hub}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--send", required=True)
    parser.add_argument("--simulations", type=int, default=5)
    args = parser.parse_args()
    with open(".vopr-target") as f:
        target = json.load(f)
    post(args.send, "/started", target)
    for _ in range(args.simulations):
        seed = int.from_bytes(os.urandom(6), "big")
        result = subprocess.run([sys.executable, "sim.py", str(seed)], capture_output=True, text=True)
        if result.returncode == 0:
            print(result.stdout.strip(), flush=True)
            continue
        print(f"seed {seed} failed on {target['branch']} at {target['commit'][:12]}: reporting", flush=True)
        post(args.send, "/report", {**target, "seed": seed, "fingerprint": fingerprint(result.stderr), "stack_trace": result.stderr, "log": result.stdout})


if __name__ == "__main__":
    main()
