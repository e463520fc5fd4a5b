"""The ao Scheduler Unit stand-in, `su.py su <port>` or `su.py router <port>`, configured by the
guide's environment (MODE, DATABASE_URL, SU_WALLET_PATH, SCHEDULER_LIST_PATH, ...).

A unit gives each process's messages consecutive nonces from 0, stored in its PostgreSQL
database `su` before it answers (an answer is an acknowledgement). A router sends each new
process to the unit with the fewest processes, remembers that in its own database, and forwards
every later message of the process there. Both migrate their database at start. The wallet is
read, never printed."""
import hashlib
import hmac
import json
import os
import stat
import sys
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import psycopg2

from json_http import JsonHandler

MIGRATIONS = {
    "su": ["CREATE TABLE messages (process_id text NOT NULL, nonce integer NOT NULL, payload text NOT NULL, signature text NOT NULL, PRIMARY KEY (process_id, nonce))"],
    "router": ["CREATE TABLE assignments (process_id text PRIMARY KEY, unit_url text NOT NULL)"],
}


def fail(message):
    print(f"su: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def env(name):
    value = os.environ.get(name)
    if value is None:
        fail(f"{name} is not set (NotPresent)")
    return value


def load_wallet(path):
    info = os.stat(path)
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        fail(f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): it must be 0600")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def connect():
    return psycopg2.connect(DATABASE_URL, connect_timeout=3)


def migrate(mode):
    with connect() as db, db.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY)")
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        done = cur.fetchone()[0]
        for version, statement in enumerate(MIGRATIONS[mode], start=1):
            if version > done:
                cur.execute(statement)
                cur.execute("INSERT INTO schema_migrations VALUES (%s)", (version,))
                print(f"migrated {mode} database to version {version}", flush=True)


def schedule(process, payload):
    """Stores the next message of a process; the commit comes before the answer."""
    db = connect()
    try:
        with db, db.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (process,))
            cur.execute("SELECT coalesce(max(nonce) + 1, 0) FROM messages WHERE process_id = %s", (process,))
            nonce = cur.fetchone()[0]
            signature = hmac.new(WALLET, f"{process}/{nonce}/{payload}".encode(), "sha256").hexdigest()
            cur.execute("INSERT INTO messages VALUES (%s, %s, %s, %s)", (process, nonce, payload, signature))
        return {"process": process, "nonce": nonce, "unit": SELF_URL}
    finally:
        db.close()


def assigned_unit(process):
    with open(env("SCHEDULER_LIST_PATH")) as f:
        units = [entry["url"] for entry in json.load(f)]
    db = connect()
    try:
        with db, db.cursor() as cur:
            cur.execute("LOCK TABLE assignments IN EXCLUSIVE MODE")
            cur.execute("SELECT unit_url FROM assignments WHERE process_id = %s", (process,))
            row = cur.fetchone()
            if row:
                return row[0]
            cur.execute("SELECT unit_url, count(*) FROM assignments GROUP BY unit_url")
            load = dict(cur.fetchall())
            unit = min(units, key=lambda url: (load.get(url, 0), units.index(url)))
            cur.execute("INSERT INTO assignments VALUES (%s, %s)", (process, unit))
            return unit
    finally:
        db.close()


class Handler(JsonHandler):

    def do_GET(self):
        self.reply(200, {"mode": MODE, "url": SELF_URL}) if self.path == "/" else self.reply(404, {"error": "no such path"})

    def do_POST(self):
        if self.path != "/message":
            return self.reply(404, {"error": "no such path"})
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw)
        try:
            if MODE == "su":
                return self.reply(200, schedule(body["process"], body["payload"]))
            unit = assigned_unit(body["process"])
        except psycopg2.Error as error:
            return self.reply(503, {"error": f"database: {str(error).strip()}"})
        request = urllib.request.Request(unit + "/message", data=raw, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return self.reply(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return self.reply(error.code, json.loads(error.read() or b"{}") | {"unit": unit})
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            return self.reply(502, {"error": f"unit {unit}: {error}", "unit": unit})


if __name__ == "__main__":
    MODE, port = sys.argv[1], int(sys.argv[2])
    if MODE not in MIGRATIONS or env("MODE") != MODE:
        fail(f"mode {MODE!r}: give su or router, matching MODE")
    DATABASE_URL = env("DATABASE_URL")
    WALLET = load_wallet(env("SU_WALLET_PATH"))
    SELF_URL = env("SU_URL")
    migrate(MODE)
    print(f"{MODE} listening on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
