"""A TestLooper worker stand-in: registers its machine, polls the server for jobs that fit, runs
each, and posts its result until the server takes it. When the server is away it waits and
reconnects; running jobs go on. Every job it starts and finishes goes into its ledger."""
import argparse
import hashlib
import json
import time
import urllib.error
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--server", required=True)
parser.add_argument("--machine", required=True)
parser.add_argument("--tag", required=True)
parser.add_argument("--type", required=True)
parser.add_argument("--cores", type=float, required=True)
parser.add_argument("--ram-gb", type=float, required=True)
parser.add_argument("--ledger", required=True)
args = parser.parse_args()


def call(path, body=None):
    """Retries until the server answers: it may be restarting."""
    while True:
        try:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(args.server + path, data=data, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            print(f"server unreachable ({error}); waiting", flush=True)
            time.sleep(0.5)


def ledger(entry):
    with open(args.ledger, "a") as out:
        out.write(json.dumps({**entry, "at": time.time()}) + "\n")


call("/register", {"machine": args.machine, "tag": args.tag, "type": args.type, "cores": args.cores, "ram_gb": args.ram_gb})
print(f"{args.machine} ({args.type}, tag {args.tag}) registered", flush=True)
while True:
    answer = call(f"/next?machine={args.machine}")
    if answer.get("shutdown"):
        print(f"{args.machine}: shut down by the server", flush=True)
        ledger({"event": "shutdown"})
        break
    job = answer.get("job")
    if not job:
        time.sleep(0.3)
        continue
    ledger({"event": "started", "id": job["id"]})
    print(f"running {job['id']} ({job['cores']} cores, {job['ram_gb']} GB)", flush=True)
    time.sleep(job["seconds"])
    output = hashlib.sha256(job["id"].encode()).hexdigest()[:16]
    call("/result", {"id": job["id"], "machine": args.machine, "output": output})
    ledger({"event": "done", "id": job["id"]})
