"""The TestLooper server stand-in: jobs queue in Redis and go to the first polling worker whose
machine fits their shape; results are idempotent, so a retried post is counted once. All state
is in Redis, so restarting this server loses nothing: workers wait and reconnect. Scale-down
shuts down only the machines carrying this pool's worker tag (the guide's worker_name)."""
import argparse
import json
import time
from http.server import ThreadingHTTPServer

import redis

from json_http import JsonHandler

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--redis-port", type=int, required=True)
parser.add_argument("--config", required=True)
args = parser.parse_args()
with open(args.config) as f:
    config = json.load(f)["machine_management"]
db = redis.Redis(port=args.redis_port, decode_responses=True)


def fits(job, machine):
    return machine["cores"] >= job["cores"] and machine["ram_gb"] >= job["ram_gb"]


def next_job(name):
    if db.get(f"shutdown:{name}"):
        return {"shutdown": True}
    machine = json.loads(db.hget("machines", name) or "null")
    if machine is None:
        return {"error": "register first"}
    if machine["tag"] != config["worker_name"]:
        # A machine of another pool in the same account: never this pool's jobs.
        return {"job": None}
    for raw in db.lrange("queue", 0, -1):
        job = json.loads(raw)
        # LREM is atomic: of two threads taking the same job, one removes it and the other moves on.
        if fits(job, machine) and db.lrem("queue", 1, raw) == 1:
            db.hset(f"job:{job['id']}", mapping={"state": "running", "machine": name, "started_at": time.time()})
            return {"job": job}
    return {"job": None}


def post_result(body):
    key = f"job:{body['id']}"
    # HSETNX makes the first result win: a worker retrying after a lost answer adds nothing.
    if not db.hsetnx(key, "done_at", time.time()):
        return {"duplicate": True}
    db.hset(key, mapping={"state": "done", "result": body["output"], "result_machine": body["machine"]})
    db.incr("jobs_done")
    return {"duplicate": False}


def scale_down():
    shut = []
    for name, raw in db.hgetall("machines").items():
        if json.loads(raw)["tag"] == config["worker_name"]:
            db.set(f"shutdown:{name}", 1)
            shut.append(name)
    return {"shut_down": sorted(shut)}


def state():
    jobs = {key[4:]: db.hgetall(key) for key in db.scan_iter("job:*")}
    machines = {name: json.loads(raw) for name, raw in db.hgetall("machines").items()}
    shutdowns = sorted(key.split(":", 1)[1] for key in db.scan_iter("shutdown:*"))
    return {"jobs": jobs, "machines": machines, "shutdowns": shutdowns, "queued": db.llen("queue")}


class Handler(JsonHandler):

    def do_GET(self):
        if self.path.startswith("/next?machine="):
            return self.reply(200, next_job(self.path.split("=", 1)[1]))
        if self.path == "/state":
            return self.reply(200, state())
        self.reply(404, {"error": "no such path"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        if self.path == "/register":
            db.hset("machines", body["machine"], json.dumps(body))
            return self.reply(200, {})
        if self.path == "/jobs":
            for job in body:
                db.hset(f"job:{job['id']}", mapping={"state": "queued", "cores": job["cores"], "ram_gb": job["ram_gb"]})
                db.rpush("queue", json.dumps(job))
            return self.reply(200, {"queued": len(body)})
        if self.path == "/result":
            return self.reply(200, post_result(body))
        if self.path == "/scale-down":
            return self.reply(200, scale_down())
        self.reply(404, {"error": "no such path"})


if __name__ == "__main__":
    print(f"looper serving on {args.port}, redis on {args.redis_port}, worker tag {config['worker_name']}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", args.port), Handler).serve_forever()
