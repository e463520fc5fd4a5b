# The image of the four reference fleets (fuzz-farm, worker-pool, su-cluster, metrics-ingest):
# fieldtest's agent plus the Debian components their guides name (PostgreSQL 15, Redis, git,
# OpenSSL) and Python 3 for the stand-ins the scenarios copy in. One image for all four, so a
# CI machine builds it once. Nothing is started here: each scenario starts its servers itself,
# on ports of the agent's own slice, so the same image serves host-network agents too.
FROM fieldtest-agent:debian

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-psycopg2 python3-redis postgresql-15 redis-server git openssl curl \
 && pg_dropcluster 15 main \
 && rm -rf /var/lib/apt/lists/*
