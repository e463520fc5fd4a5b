/**
 * True on a CI machine, where a missing dependency (Docker, sshd, Prometheus, Chromium) must
 * fail the run instead of skipping tests: CI systems set CI to true, 1 or their own name.
 */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}
