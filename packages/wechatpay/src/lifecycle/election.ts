// Leader election per merchant over the sync store: only the leader downloads platform
// certificates. Leadership is campaigned for (acquired or renewed) every `electionIntervalMs`; a
// store that fails marks the merchant degraded (it downloads locally until the store answers again)
// and takes leadership away.
import type { SyncStore } from '@wxseal/fleet-sync';
import type { LifecycleEvents } from './events.js';

interface Standing {
  leader: boolean;
  /** The sync store failed: download locally until it answers again. */
  degraded: boolean;
}

export class LeaderElection {
  readonly #standing = new Map<string, Standing>();

  constructor(
    private readonly backend: SyncStore,
    private readonly events: LifecycleEvents,
    private readonly isClosed: () => boolean,
    /** Reports a store failure (a `sync-failed` event). */
    private readonly onStoreFailure: (mchid: string, err: unknown) => void,
  ) {}

  #of(mchid: string): Standing {
    let s = this.#standing.get(mchid);
    if (s === undefined) this.#standing.set(mchid, (s = { leader: false, degraded: false }));
    return s;
  }

  isLeader(mchid: string): boolean {
    return this.#standing.get(mchid)?.leader ?? false;
  }

  isDegraded(mchid: string): boolean {
    return this.#standing.get(mchid)?.degraded ?? false;
  }

  /** Neither leading nor degraded: the leader's list is what this instance uses. */
  isFollower(mchid: string): boolean {
    return !this.isLeader(mchid) && !this.isDegraded(mchid);
  }

  markDegraded(mchid: string): void {
    this.#of(mchid).degraded = true;
  }

  /** The start-up campaign; a store failure marks the merchant degraded (`unavailable`). */
  async campaignAtStart(mchid: string): Promise<'leader' | 'follower' | 'unavailable'> {
    let lead: boolean;
    try {
      lead = await this.backend.campaign(mchid);
    } catch (e) {
      this.onStoreFailure(mchid, e);
      this.markDegraded(mchid);
      return 'unavailable';
    }
    if (!lead) return 'follower';
    this.#becameLeader(mchid);
    return 'leader';
  }

  /** One round for the merchants given; `onAcquired` runs when this instance has just become leader. */
  async round(mchids: readonly string[], onAcquired: (mchid: string) => Promise<void>): Promise<void> {
    if (this.isClosed()) return;
    await Promise.all(
      mchids.map(async (mchid) => {
        const s = this.#of(mchid);
        let lead: boolean;
        try {
          lead = await this.backend.campaign(mchid);
        } catch (e) {
          if (this.isClosed()) return;
          this.onStoreFailure(mchid, e);
          s.degraded = true;
          this.#lost(mchid);
          return;
        }
        if (this.isClosed()) return;
        s.degraded = false;
        if (lead && !s.leader) {
          this.#becameLeader(mchid);
          await onAcquired(mchid);
        } else if (!lead) {
          this.#lost(mchid);
        }
      }),
    );
  }

  /** Gives up every leadership held (close()). */
  async resignAll(): Promise<void> {
    await Promise.allSettled(
      [...this.#standing.entries()]
        .filter(([, s]) => s.leader)
        .map(async ([mchid, s]) => {
          s.leader = false;
          await this.backend.resign(mchid);
        }),
    );
  }

  #becameLeader(mchid: string): void {
    const s = this.#of(mchid);
    if (s.leader) return;
    s.leader = true;
    this.events.emit({ type: 'leader-acquired', mchid });
  }

  #lost(mchid: string): void {
    const s = this.#of(mchid);
    if (!s.leader) return;
    s.leader = false;
    this.events.emit({ type: 'leader-lost', mchid });
  }
}
