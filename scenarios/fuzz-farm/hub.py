"""The VOPR hub stand-in: receives bug reports, replays each new one on its own dedicated
simulator checkout, and files one issue (a JSON file in ISSUE_DIRECTORY) per distinct bug that
reproduces. Identical reports (same fingerprint) are counted, never filed twice."""
import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fingerprint import fingerprint  # noqa: E402
from json_http import JsonHandler  # noqa: E402

REPLAY_DIR = os.environ["TIGERBEETLE_DIRECTORY"]
ISSUE_DIR = os.path.join(os.environ["ISSUE_DIRECTORY"], "issues")
PORT = int(os.environ["VOPR_HUB_ADDRESS"].rsplit(":", 1)[1])

lock = threading.Lock()
state = {"reports": 0, "duplicates": 0, "replayed": 0, "not_reproduced": 0, "starts": []}
# Fingerprints filed or waiting for their replay: a second report of either is a duplicate.
seen = set()
replays = queue.Queue()


def filed_issues():
    """Issue file name → the fingerprint of the bug it reports."""
    os.makedirs(ISSUE_DIR, exist_ok=True)
    issues = {}
    for name in sorted(os.listdir(ISSUE_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(ISSUE_DIR, name)) as f:
                issues[name] = json.load(f)["fingerprint"]
    return issues


def replay(report):
    """Runs the reported seed at the reported commit; the issue is filed only if it fails alike."""
    subprocess.run(["git", "fetch", "--quiet", "origin"], cwd=REPLAY_DIR, check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", "--force", report["commit"]], cwd=REPLAY_DIR, check=True)
    result = subprocess.run([sys.executable, "sim.py", str(report["seed"])], cwd=REPLAY_DIR, capture_output=True, text=True)
    reproduced = result.returncode != 0 and fingerprint(result.stderr) == report["fingerprint"]
    with lock:
        state["replayed"] += 1
        if not reproduced:
            state["not_reproduced"] += 1
            seen.discard(report["fingerprint"])
    if not reproduced:
        print(f"seed {report['seed']} did not reproduce at {report['commit'][:12]}: not filed", flush=True)
        return
    issue = {
        "title": f"vopr: {result.stderr.strip().splitlines()[-1]} (seed {report['seed']})",
        "fingerprint": report["fingerprint"],
        "seed": report["seed"],
        "commit": report["commit"],
        "branch": report["branch"],
        "reported_by_vopr": report["vopr"],
        "stack_trace": result.stderr,
        "logs": report.get("log", ""),
        "replayed_at": time.time(),
    }
    # Numbered as a tracker numbers issues: a bug filed twice shows as two files.
    with lock:
        path = os.path.join(ISSUE_DIR, f"issue-{len(filed_issues()) + 1:04d}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(issue, out, indent=2)
    os.rename(path + ".tmp", path)
    print(f"filed issue {report['fingerprint']} for seed {report['seed']} ({report['branch']})", flush=True)


def replayer():
    while True:
        report = replays.get()
        try:
            replay(report)
        except Exception as error:  # a failed replay must not stop the hub's simulator
            print(f"replay of seed {report['seed']} failed: {error}", flush=True)
            with lock:
                seen.discard(report["fingerprint"])


class Handler(JsonHandler):

    def do_GET(self):
        if self.path != "/state":
            return self.reply(404, {"error": "no such path"})
        with lock:
            body = {**state, "issues": sorted(filed_issues())}
        self.reply(200, body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/started":
            with lock:
                state["starts"].append({**body, "at": time.time()})
            return self.reply(200, {})
        if self.path != "/report":
            return self.reply(404, {"error": "no such path"})
        with lock:
            state["reports"] += 1
            duplicate = body["fingerprint"] in seen
            if duplicate:
                state["duplicates"] += 1
            else:
                seen.add(body["fingerprint"])
        if not duplicate:
            replays.put(body)
        print(f"report from vopr {body['vopr']}: seed {body['seed']} {'duplicate' if duplicate else 'queued for replay'}", flush=True)
        self.reply(200, {"duplicate": duplicate})


if __name__ == "__main__":
    seen.update(filed_issues().values())
    threading.Thread(target=replayer, daemon=True).start()
    print(f"vopr hub listening on {PORT}, issues in {ISSUE_DIR}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
