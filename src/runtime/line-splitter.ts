/** Cuts a byte stream into lines, holding a partial last line until its newline arrives. */
export class LineSplitter {
  private pending = "";

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.pending + chunk.toString();
    let start = 0;
    for (let newline = text.indexOf("\n", start); newline !== -1; newline = text.indexOf("\n", start)) {
      this.onLine(text.slice(start, newline));
      start = newline + 1;
    }
    this.pending = text.slice(start);
  }

  flush(): void {
    if (this.pending !== "") this.onLine(this.pending);
    this.pending = "";
  }
}
