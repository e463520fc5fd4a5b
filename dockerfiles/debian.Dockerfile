# fieldtest agent: a Debian box whose only door is sshd on the port fieldtest gives it
# (30000 for the first agent). fieldtest installs the host key and the authorized key into
# each container before it starts, so no key is baked into the image and every agent's
# host key can be pinned by the runtime. The node exporter is there for `--monitoring`, which
# starts it on a port of the agent's slice; nothing runs it otherwise.
FROM debian:bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openssh-server ca-certificates procps busybox tar coreutils prometheus-node-exporter \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* \
 && mkdir -p /run/sshd /root/.ssh /var/lib/fieldtest \
 && chmod 700 /root/.ssh

COPY agent/sshd_config /etc/ssh/sshd_config
COPY agent/fieldtest-agent /usr/local/bin/fieldtest-agent

ENV FIELDTEST_SSH_PORT=30000
EXPOSE 30000
ENTRYPOINT ["/usr/local/bin/fieldtest-agent"]

# The same image serves as the engine's reaper (fieldtest-reaper, another entrypoint): it talks
# to the Docker socket with curl and reads the Engine API's JSON with jq.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl jq \
 && rm -rf /var/lib/apt/lists/*
COPY agent/fieldtest-reaper /usr/local/bin/fieldtest-reaper
