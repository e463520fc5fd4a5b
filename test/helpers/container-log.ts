import { PassThrough } from "node:stream";
import type Docker from "dockerode";

export interface FollowedLog {
  /** What the container printed so far, stdout and stderr together. */
  text(): string;
  /** Settles when the container's output ends (it exited, or was removed). */
  ended: Promise<void>;
}

/**
 * Follows a container's output from its first line: an auto-removed container takes its logs
 * with it, so what it says as it leaves is only seen by a reader attached before.
 */
export async function followLog(docker: Docker, id: string): Promise<FollowedLog> {
  const stream = await docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true });
  const sink = new PassThrough();
  let text = "";
  sink.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  docker.modem.demuxStream(stream, sink, sink);
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  return { text: () => text, ended };
}
