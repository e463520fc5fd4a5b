// At a new VM's first boot its permission to pull may not have reached the registry yet (IAM
// grants take a minute or so), and the cloud's own agents may hold the dpkg lock: the boot script
// waits for both instead of failing. Its pull loop runs here in bash, with `docker` and `sleep`
// as shell functions that count.
import { execFileSync } from "node:child_process";
import t from "tap";
import { agentBootScript } from "../infra/boot-script.ts";

const script = agentBootScript({
  image: "europe-west1-docker.pkg.dev/p/alice-images/debian@sha256:00",
  hostKeyCommand: "cat /dev/null",
  authorizedKey: "ssh-ed25519 AAAA",
  expiresAt: new Date("2030-01-01T12:00:00Z"),
  sshPort: 30000,
  extraPackages: [],
  registryLogin: "token=$(fetch_token)\nprintf '%s' \"$token\" | docker login --username oauth2accesstoken --password-stdin https://europe-west1-docker.pkg.dev",
});
const lines = script.split("\n");
const start = lines.findIndex((line) => line.startsWith("# A new VM's permission to pull"));
const pullLoop = lines.slice(start, lines.indexOf("done", start) + 1).join("\n");

function runPullLoop(refusals: number): { code: number; calls: string } {
  const stubs = [
    "set -euo pipefail",
    `refusals=${refusals}`,
    "fetch_token() { echo token; }",
    'docker() { echo "$1" >> "$calls"; if [ "$1" = pull ] && (( refusals > 0 )); then refusals=$((refusals - 1)); return 1; fi; cat >/dev/null 2>&1 || true; }',
    "sleep() { :; }",
    pullLoop,
  ].join("\n");
  try {
    const calls = execFileSync("bash", ["-c", `calls=$(mktemp); ${stubs}\ncat "$calls"; rm -f "$calls"`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, calls: calls.trim().split("\n").join(" ") };
  } catch (error) {
    return { code: (error as { status: number }).status, calls: "" };
  }
}

t.test("the pull is retried, with a fresh login, until the registry lets the VM in", async (t) => {
  t.same(runPullLoop(2), { code: 0, calls: "login pull login pull login pull" }, "refused twice, pulled at the third attempt");
  t.same(runPullLoop(0), { code: 0, calls: "login pull" });
  t.equal(runPullLoop(30).code, 1, "a VM that is never let in stops the script, and says so");
});

t.test("apt-get waits for the dpkg lock, and the script is valid bash", async (t) => {
  t.match(script, /apt-get -o DPkg::Lock::Timeout=600 update\n/);
  t.match(script, /apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker\.io/);
  t.doesNotThrow(() => execFileSync("bash", ["-n"], { input: script }));
  t.ok(script.indexOf("docker pull") < script.indexOf("docker create"), "pulled before the container is made");
});
