/**
 * Where every part of the bench reports progress (the CLI prints it on stderr). A module of its
 * own because the harness imports the parts (admin, devices) and they all report.
 */
export interface ProgressSink {
  /** A line that replaces the previous live line (on a TTY). */
  live(text: string): void;
  /** A line that stays. */
  line(text: string): void;
}
