# fieldtest agent: a Debian box whose only door is sshd on the port fieldtest gives it
# (30000 for the first agent). fieldtest gives each container its host key and the authorized
# key in its environment, which the entrypoint writes before sshd starts, so no key is baked
# into the image and every agent's host key can be pinned by the runtime. The node exporter is there for `--monitoring`, which
# starts it on a port of the agent's slice; nothing runs it otherwise.

# fieldtest-delayer (faults: delay where the kernel has no sch_netem) is built in a stage of
# its own, so the compiler stays out of the agent image.
FROM debian:bookworm AS delayer
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev libnetfilter-queue-dev \
 && rm -rf /var/lib/apt/lists/*
COPY agent/fieldtest-delayer.c /src/fieldtest-delayer.c
RUN gcc -O2 -Wall -Wextra -o /fieldtest-delayer /src/fieldtest-delayer.c -lnetfilter_queue -lnfnetlink

FROM debian:bookworm

# Besides sshd and the node exporter (--monitoring): curl and jq for the engine's reaper
# (fieldtest-reaper, another entrypoint of this image, which talks to the Docker socket);
# iptables, iproute2 and the delayer's library for faults (src/faults); libfaketime for the clock
# skew of daemons started with its environment.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openssh-server ca-certificates procps busybox tar coreutils prometheus-node-exporter \
      curl jq iptables iproute2 libnetfilter-queue1 libfaketime \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* \
 && mkdir -p /run/sshd /root/.ssh /var/lib/fieldtest /usr/local/lib/fieldtest \
 && chmod 700 /root/.ssh \
 && ln -s "$(dpkg -L libfaketime | grep '/libfaketime.so.1$')" /usr/local/lib/fieldtest/libfaketime.so.1 \
 && echo "+0" > /var/lib/fieldtest/faketime

COPY agent/sshd_config /etc/ssh/sshd_config
COPY agent/fieldtest-agent agent/fieldtest-reaper agent/fieldtest-fault /usr/local/bin/
COPY --from=delayer /fieldtest-delayer /usr/local/bin/fieldtest-delayer

ENV FIELDTEST_SSH_PORT=30000
EXPOSE 30000
ENTRYPOINT ["/usr/local/bin/fieldtest-agent"]
