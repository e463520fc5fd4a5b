"""The reports of the guide's cron jobs (5-minute, hourly, daily), on a schedule of seconds: each
counts, per cluster, the samples and hosts on disk, into reports/<cluster>/<kind>.json."""
import json
import os
import sys
import time

data, reports = sys.argv[1], sys.argv[2]
SCHEDULE = {"5min": 2, "hourly": 4, "daily": 8}


def report(kind):
    for cluster in sorted(os.listdir(data)) if os.path.isdir(data) else []:
        samples, hosts = 0, set()
        for root, _, files in os.walk(os.path.join(data, cluster)):
            for name in files:
                with open(os.path.join(root, name)) as f:
                    samples += sum(1 for line in f if line.strip())
                hosts.add(name[:-4])
        os.makedirs(os.path.join(reports, cluster), exist_ok=True)
        path = os.path.join(reports, cluster, kind + ".json")
        with open(path + ".tmp", "w") as out:
            json.dump({"cluster": cluster, "kind": kind, "samples": samples, "hosts": sorted(hosts), "generated_at": time.time()}, out)
        os.rename(path + ".tmp", path)


last = {kind: 0.0 for kind in SCHEDULE}
while True:
    now = time.time()
    for kind, every in SCHEDULE.items():
        if now - last[kind] >= every:
            report(kind)
            last[kind] = now
    time.sleep(0.5)
