import t from "tap";
import { LINE_CUT_MARKER, LineSplitter, MAX_LINE_LENGTH } from "../src/runtime/line-splitter.ts";

t.test("a multibyte character cut across chunks arrives whole", async (t) => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  const bytes = Buffer.from("héllo wörld → 🙂\nnext ✓");
  // Every possible cut point, one byte at a time: each chunk ends inside a character somewhere.
  for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1));
  splitter.flush();
  t.same(lines, ["héllo wörld → 🙂", "next ✓"]);
});

t.test("output without newlines is scanned once and cut at the maximum line length", async (t) => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  const chunk = Buffer.alloc(64 * 1024, "x");
  const total = 32 * 1024 * 1024;
  for (let sent = 0; sent < total; sent += chunk.length) splitter.push(chunk);
  splitter.push("\n");
  splitter.flush();
  t.equal(splitter.scannedCharacters, total + 1, "each character looked at once: work is linear in the input");
  t.ok(lines.every((line) => line.length <= MAX_LINE_LENGTH + LINE_CUT_MARKER.length), "no line longer than the cap");
  const pieces = lines.filter((line) => line.endsWith(LINE_CUT_MARKER));
  t.equal(pieces.length, total / MAX_LINE_LENGTH - 1, "every cut piece but the last is marked");
  t.equal(lines.map((line) => line.replace(LINE_CUT_MARKER, "")).join("").length, total, "nothing lost");
});

t.test("a cut never splits a surrogate pair", async (t) => {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), { maxLineLength: 4 });
  splitter.push("abc🙂def\n");
  t.same(lines, [`abc${LINE_CUT_MARKER}`, "🙂de" + LINE_CUT_MARKER, "f"]);
});
