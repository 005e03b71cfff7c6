/**
 * The critical messages' journal writes in flight in this process. A bulk write about to
 * start waits for those first, so a critical write never shares the server with a bulk
 * write this process could have held back: critical writes go ahead in the group commit.
 * It waits only for the critical writes in flight when it asks, not for later ones, so a
 * bulk write is held up by at most one round of critical writes.
 */
export class UrgentGate {
  private readonly inFlight = new Set<Promise<unknown>>();

  /** Tracks a critical write until it settles; returns it unchanged. */
  track<T>(write: Promise<T>): Promise<T> {
    // The caller handles the write's failure; the gate only needs to know it settled.
    const tracked: Promise<unknown> = write.then(
      () => this.inFlight.delete(tracked),
      () => this.inFlight.delete(tracked),
    );
    this.inFlight.add(tracked);
    return write;
  }

  /** Resolves once the critical writes in flight now have settled (at once when none are). */
  async clear(): Promise<void> {
    if (this.inFlight.size === 0) return;
    await Promise.all([...this.inFlight]);
  }
}
