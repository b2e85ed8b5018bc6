// In-memory ShareJournal (tests, simulations, embedders without a disk). It survives whatever
// the object survives: the property test carries one instance across simulated crashes and
// restarts, which models a journal whose records reached the OS before the crash (the
// `kill -9` guarantee of adapters/share-journal-file.ts).
import type { ForwardStatus, ShareJournal, ShareRecord } from './types.ts';

export class MemoryShareJournal implements ShareJournal {
  readonly #unsettled = new Map<string, ShareRecord>();
  #commits = 0;
  #settledCount = 0;

  accepted(share: ShareRecord, _json?: string): void {
    this.#unsettled.set(share.share_id, share);
  }

  settled(shareId: string, _status: ForwardStatus): void {
    if (this.#unsettled.delete(shareId)) this.#settledCount++;
  }

  commit(): void {
    this.#commits++;
  }

  /** What a restart recovers: accepted and never settled, in accept order. */
  unsettled(): ShareRecord[] {
    return [...this.#unsettled.values()];
  }

  get commits(): number {
    return this.#commits;
  }

  get settledCount(): number {
    return this.#settledCount;
  }
}
