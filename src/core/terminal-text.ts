/**
 * Text from agents shown on the user's terminal. A daemon's output could carry escape sequences
 * that write the clipboard (OSC 52), retitle the window, or erase a line and print a fake "run
 * passed": every C0 and C1 control character but tab (and newline where lines are kept) is shown
 * as `\xNN` instead. Log files keep the raw bytes; only what reaches a terminal goes through here.
 */
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

function escape(char: string): string {
  return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/** One line: every control character but tab shown visibly, a newline included. */
export function visibleLine(text: string): string {
  return text.replace(CONTROLS, escape);
}

/** Lines of text: newlines kept, every other control character but tab shown visibly. */
export function visibleText(text: string): string {
  return text.replace(CONTROLS_BUT_NEWLINE, escape);
}
