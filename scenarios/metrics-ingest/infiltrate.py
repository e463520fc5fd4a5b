"""The Sonar ingest server stand-in (the guide's `infiltrate`): takes samples from the nodes of
every cluster, over HTTP and HTTPS, authenticated by a username:password file, and appends each
to data/<cluster>/<year>/<month>/<day>/<hostname>.csv. A sample is written once: its id is
remembered (and recovered from the files at start), so a node's retry adds nothing. GET /ping
answers 200 with the version and pid. SIGHUP shuts it down cleanly, as the guide upgrades it."""
import argparse
import base64
import hmac
import json
import os
import signal
import ssl
import stat
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer

from json_http import JsonHandler

VERSION = "1"

parser = argparse.ArgumentParser()
parser.add_argument("-data-path", dest="data", required=True)
parser.add_argument("-port", type=int, required=True)
parser.add_argument("-tls-port", type=int, required=True)
parser.add_argument("-auth-file", dest="auth", required=True)
parser.add_argument("-cert", required=True)
parser.add_argument("-key", required=True)
args = parser.parse_args()

if not os.path.exists(args.auth):
    sys.exit(f"infiltrate: -auth-file {args.auth} does not exist")
if os.stat(args.auth).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
    sys.exit(f"infiltrate: -auth-file {args.auth} is readable by others: make it 0600")
with open(args.auth) as f:
    EXPECTED = "Basic " + base64.b64encode(f.readline().strip().encode()).decode()

lock = threading.Lock()
seen = set()
accepted = 0
STARTED = time.time()


def recover():
    for root, _, files in os.walk(args.data):
        for name in files:
            if name.endswith(".csv"):
                with open(os.path.join(root, name)) as f:
                    seen.update(line.split(",")[1] for line in f if line.strip())


def ingest(cluster, text):
    global accepted
    new = duplicates = 0
    with lock:
        for line in text.splitlines():
            if not line.strip():
                continue
            version, sample_id, timestamp, hostname, _load = line.split(",")
            if version != "v1" or "/" in hostname or "/" in cluster:
                raise ValueError(f"bad sample line {line!r}")
            if sample_id in seen:
                duplicates += 1
                continue
            day = datetime.fromtimestamp(float(timestamp), timezone.utc)
            directory = os.path.join(args.data, cluster, f"{day:%Y}", f"{day:%m}", f"{day:%d}")
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, hostname + ".csv"), "a") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
            seen.add(sample_id)
            new += 1
        accepted += new
    return {"accepted": new, "duplicates": duplicates}


class Handler(JsonHandler):

    def do_GET(self):
        if self.path == "/ping":
            return self.reply(200, {"version": VERSION, "pid": os.getpid(), "started": STARTED, "accepted": accepted})
        self.reply(404, {"error": "no such path"})

    def do_POST(self):
        text = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if not hmac.compare_digest(self.headers.get("Authorization", ""), EXPECTED):
            return self.reply(401, {"error": "bad credentials"})
        if not self.path.startswith("/sonar-freecsv?cluster="):
            return self.reply(404, {"error": "no such path"})
        try:
            self.reply(200, ingest(self.path.split("=", 1)[1], text))
        except ValueError as error:
            self.reply(400, {"error": str(error)})


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


if __name__ == "__main__":
    recover()
    plain = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    secure = ThreadingHTTPServer(("0.0.0.0", args.tls_port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    done = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    serve(plain)
    serve(secure)
    print(f"infiltrate {VERSION} (pid {os.getpid()}): http {args.port}, https {args.tls_port}, {len(seen)} samples on disk", flush=True)
    done.wait()
    plain.shutdown()
    secure.shutdown()
    print(f"infiltrate {VERSION}: shut down", flush=True)
