/** Where long operations say what they are doing; the CLI prints it, tests collect it. */
export interface Progress {
  step(message: string): void;
}

export const silentProgress: Progress = { step() {} };
