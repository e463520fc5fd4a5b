// src/core/terminal-text.ts alone, for the characters the end-to-end test (security-terminal)
// does not send: C1 controls. A terminal reads U+009B as CSI and U+009D as OSC, the same as
// ESC [ and ESC ], so a daemon could erase a line or write the clipboard without any ESC.
import t from "tap";
import { visibleLine, visibleText } from "../src/core/terminal-text.ts";

t.test("C1 controls are shown visibly, like C0 ones; printable text beyond them is kept", async (t) => {
  t.equal(visibleLine("a\u009b2Kb\u009d52;c;eA==\u0007c\u0085d"), "a\\x9b2Kb\\x9d52;c;eA==\\x07c\\x85d");
  t.equal(visibleText("x\u009by\nz\u007f"), "x\\x9by\nz\\x7f", "newlines kept, DEL and C1 shown");
  t.equal(visibleLine("\u00a0é\tok"), "\u00a0é\tok", "no-break space, accents and tab are printable");
});
