import t from "tap";
import { ImageRefs } from "../infra/agent-image.ts";
import { dockerfileAliases } from "../src/core/images.ts";

t.test("image aliases are the dockerfiles' names", async (t) => {
  const dir = t.testdir({ "debian.Dockerfile": "", "alpine.Dockerfile": "", "README.md": "", Dockerfile: "" });
  t.same(dockerfileAliases(dir), ["alpine", "debian"]);
  t.same(dockerfileAliases(new URL("../dockerfiles/", import.meta.url).pathname), ["debian", "fleet"]);
});

t.test("asking for an image that was not built names the alias", async (t) => {
  t.throws(() => new ImageRefs().get("alpine"), { message: /no image was built for alias "alpine"/ });
});
