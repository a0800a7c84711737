// What `bext` exit codes mean; scripts and the packaging rely on them.
export const EXIT = {
  /** Done, or nothing to do. */
  OK: 0,
  /** A step failed (or Ctrl-C) and the completed steps were undone. */
  FAILED: 1,
  /** Bad command line, or a question that needs a terminal (or --yes). */
  USAGE: 2,
  /** Preflight refused: nothing was changed. */
  REFUSED: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
