"""A reporting node stand-in (the guide's `exfiltrate`): every interval it takes a sample and
sends every sample not yet accepted, so samples survive the server being away. Each sample it
made goes to --made, each the server accepted to --acked. Once --stop-file exists it makes no
new samples and exits when the server has accepted all it made."""
import argparse
import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--server", required=True)
parser.add_argument("--cacert")
parser.add_argument("--cluster", required=True)
parser.add_argument("--hostname", required=True)
parser.add_argument("--auth-file", required=True)
parser.add_argument("--interval", type=float, default=1.0)
parser.add_argument("--made", required=True)
parser.add_argument("--acked", required=True)
parser.add_argument("--stop-file", required=True)
args = parser.parse_args()

with open(args.auth_file) as f:
    authorization = "Basic " + base64.b64encode(f.readline().strip().encode()).decode()
context = ssl.create_default_context(cafile=args.cacert) if args.cacert else None
pending = []
seq = 0


def send():
    body = "".join(line + "\n" for _, line in pending).encode()
    request = urllib.request.Request(f"{args.server}/sonar-freecsv?cluster={args.cluster}", data=body, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError) as error:
        print(f"{len(pending)} sample(s) not sent ({error}); retrying", flush=True)
        return
    with open(args.acked, "a") as out:
        out.writelines(sample_id + "\n" for sample_id, _ in pending)
    pending.clear()


while True:
    stopping = os.path.exists(args.stop_file)
    if stopping and not pending:
        print(f"{args.hostname}: all {seq} samples accepted", flush=True)
        break
    if not stopping:
        now = time.time()
        sample_id = f"{args.hostname}-{seq}"
        load = open("/proc/loadavg").read().split()[0]
        line = f"v1,{sample_id},{now:.3f},{args.hostname},{load}"
        with open(args.made, "a") as out:
            out.write(json.dumps({"id": sample_id, "line": line}) + "\n")
        pending.append((sample_id, line))
        seq += 1
    send()
    time.sleep(args.interval)
