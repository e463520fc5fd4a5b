/**
 * Docker labels that more than one layer reads. The namespace's own labels (namespace, owner,
 * expiry) are in namespace.ts; an agent's are in targets/docker-engine/labels.ts.
 */

/** Marks a container that serves a run (Grafana, a detached runner) rather than being an agent of it. */
export const ROLE_LABEL = "fieldtest-role";
