import { RunPacer } from '@commstrat/redrive';

/**
 * A RunPacer that SIGINT / SIGTERM stop between two items, so an interrupted run has
 * finished every item it started and prints its summary; the next run resumes from the
 * journal's markers. `close()` gives the signals back.
 */
export class RunControl extends RunPacer {
  private readonly onSignal = () => {
    // A second signal ends at once: the markers keep even a hard stop safe.
    if (this.stopped) process.exit(130);
    this.stop();
  };

  constructor(rate: number | undefined) {
    super(rate);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  close(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
