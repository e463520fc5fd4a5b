/**
 * The script a cloud VM runs at boot to become a fieldtest agent: install Docker from Debian's
 * packages, log in to the namespace's registry, and start the agent container with the same
 * contract as on localhost (host key and authorized key in place before start, expiry in
 * FIELDTEST_EXPIRES_AT, auto-remove). The container uses the host network, so its sshd and the
 * experiment's ports are the VM's own ports.
 *
 * The script does not carry the agent's host private key, since the cloud shows a VM's metadata
 * and user data to whoever may read the VM's settings: it reads the key at boot from the
 * namespace's secret store (GCP Secret Manager, AWS SSM Parameter Store), which only the
 * namespace's VM identity may read.
 */
export interface AgentBootOptions {
  /** The image reference, tagged by content: a rebuild of the same files under a new digest changes no boot script, so replaces no VM. */
  image: string;
  /** One shell pipeline that prints the agent's host private key (from the namespace's secret store). */
  hostKeyCommand: string;
  authorizedKey: string;
  expiresAt: Date;
  sshPort: number;
  /** Debian packages the registry login needs besides Docker. */
  extraPackages: readonly string[];
  /** Shell lines that log Docker into the registry holding `image`. */
  registryLogin: string;
  /**
   * Power the VM off at `expiresAt`, for clouds that do not enforce an end time themselves (on
   * AWS, a power-off + `instanceInitiatedShutdownBehavior: terminate` deletes it). A systemd
   * timer in /etc holds the absolute expiry, so a reboot keeps it: `shutdown -h +N` is kept in
   * /run, which a reboot empties, and AWS runs user data at first boot only.
   */
  powerOffAtExpiry?: boolean;
}

const CONTAINER = "fieldtest-agent";
const AGENT_UNIT = "fieldtest-agent";
const EXPIRY_UNIT = "fieldtest-expiry";
const KEY_DIR = "/etc/fieldtest";
const HOST_KEY = `${KEY_DIR}/ssh_host_ed25519_key`;
const START_AGENT = `${KEY_DIR}/start-agent`;
/** IAM grants take a minute or so to reach a new VM: the key and the image are asked for this many times, 10 s apart. */
const HOST_KEY_ATTEMPTS = 30;
const PULL_ATTEMPTS = 30;
/** At first boot the cloud's own agents may hold the dpkg lock (unattended upgrades, guest agents): wait for it. */
const APT = "apt-get -o DPkg::Lock::Timeout=600";

/** A here-document whose quoted delimiter keeps the shell from expanding anything in `text`. */
function writeFile(path: string, text: string, delimiter: string): string {
  return `cat > ${path} <<'${delimiter}'\n${text.trim()}\n${delimiter}`;
}

/** The timer and the unit it starts; `OnCalendar` in UTC, at the expiry's whole second. */
function expiryTimer(expiresAt: Date): string[] {
  const calendar = `${expiresAt.toISOString().slice(0, 19).replace("T", " ")} UTC`;
  return [
    writeFile(`/etc/systemd/system/${EXPIRY_UNIT}.service`, `[Unit]\nDescription=fieldtest: power off at the fleet's expiry\n[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl poweroff`, "FIELDTEST_UNIT"),
    writeFile(`/etc/systemd/system/${EXPIRY_UNIT}.timer`, `[Unit]\nDescription=fieldtest: the fleet's expiry\n[Timer]\nOnCalendar=${calendar}\nAccuracySec=1s\nPersistent=true\n[Install]\nWantedBy=timers.target`, "FIELDTEST_UNIT"),
    "systemctl daemon-reload",
    `systemctl enable --now ${EXPIRY_UNIT}.timer`,
  ];
}

/**
 * The agent container, started by a systemd unit at every boot: AWS runs user data at the first
 * boot only, and the container (auto-removed) does not outlive a reboot. On GCP, which runs the
 * startup script at every boot too, the script's restart of the unit replaces the container the
 * unit started; systemd runs the two one after the other.
 */
function agentService(options: AgentBootOptions, expiresAt: number): string[] {
  const start = [
    "#!/bin/bash",
    "set -euo pipefail",
    `docker rm -f ${CONTAINER} >/dev/null 2>&1 || true`,
    `docker create --name ${CONTAINER} --network host --rm \\`,
    `  -e FIELDTEST_EXPIRES_AT=${expiresAt} -e FIELDTEST_SSH_PORT=${options.sshPort} \\`,
    `  ${options.image}`,
    `docker cp ${HOST_KEY} ${CONTAINER}:/etc/ssh/ssh_host_ed25519_key`,
    `docker cp ${KEY_DIR}/authorized_keys ${CONTAINER}:/root/.ssh/authorized_keys`,
    `docker start ${CONTAINER}`,
  ].join("\n");
  return [
    writeFile(START_AGENT, start, "FIELDTEST_START_AGENT"),
    `chmod 700 ${START_AGENT}`,
    writeFile(
      `/etc/systemd/system/${AGENT_UNIT}.service`,
      `[Unit]\nDescription=fieldtest: the agent container, at every boot\nRequires=docker.service\nAfter=docker.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=${START_AGENT}\n[Install]\nWantedBy=multi-user.target`,
      "FIELDTEST_UNIT",
    ),
    "systemctl daemon-reload",
    `systemctl enable ${AGENT_UNIT}.service`,
    `systemctl restart ${AGENT_UNIT}.service`,
  ];
}

export function agentBootScript(options: AgentBootOptions): string {
  const expiresAt = Math.floor(options.expiresAt.getTime() / 1000);
  const packages = ["docker.io", "ca-certificates", "curl", ...options.extraPackages].join(" ");
  return [
    "#!/bin/bash",
    "# fieldtest agent boot script (generated by the fieldtest Pulumi program).",
    "set -euo pipefail",
    ...(options.powerOffAtExpiry
      ? [
          "# The TTL comes first so that a failure below still leaves a VM that goes away.",
          `if (( $(date +%s) >= ${expiresAt} )); then systemctl poweroff; exit 0; fi`,
          ...expiryTimer(options.expiresAt),
        ]
      : []),
    "export DEBIAN_FRONTEND=noninteractive",
    "if ! command -v docker >/dev/null; then",
    `  ${APT} update`,
    `  ${APT} install -y --no-install-recommends ${packages}`,
    "fi",
    "umask 077",
    `mkdir -p ${KEY_DIR}`,
    "# The host key comes from the namespace's secret store; a VM that cannot read it stops here.",
    `for attempt in $(seq 1 ${HOST_KEY_ATTEMPTS}); do`,
    `  if { ${options.hostKeyCommand}; } > ${HOST_KEY} && grep -q "PRIVATE KEY" ${HOST_KEY}; then break; fi`,
    "  sleep 10",
    "done",
    `grep -q "PRIVATE KEY" ${HOST_KEY}`,
    writeFile(`${KEY_DIR}/authorized_keys`, options.authorizedKey, "FIELDTEST_AUTHORIZED_KEY"),
    "# A new VM's permission to pull may not have reached the registry yet: log in and pull until it has.",
    `for attempt in $(seq 1 ${PULL_ATTEMPTS}); do`,
    `  if { ${options.registryLogin.split("\n").join("; ")}; } && docker pull ${options.image}; then break; fi`,
    `  if (( attempt == ${PULL_ATTEMPTS} )); then echo "fieldtest: cannot pull ${options.image}" >&2; exit 1; fi`,
    "  sleep 10",
    "done",
    ...agentService(options, expiresAt),
    "",
  ].join("\n");
}
