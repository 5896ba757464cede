import { describe, expect, it } from 'vitest';
import { pickReplica, primaryReads } from '../../src/db/read-router.js';
import { parseLsn, servesReads, UNREACHABLE_LSN } from '../../src/db/replica-monitor.js';

const a = { name: 'a', replayLsn: 100n };
const b = { name: 'b', replayLsn: 200n };
const c = { name: 'c', replayLsn: 300n };

describe('pickReplica', () => {
  it('without healthy replicas: none, reason no_healthy_replica', () => {
    expect(pickReplica([], undefined, 0)).toEqual({ reason: 'no_healthy_replica', turn: 0 });
  });

  it('without a mark: takes the healthy replicas in turn', () => {
    const picked: string[] = [];
    let turn = 0;
    for (let i = 0; i < 6; i++) {
      const choice = pickReplica([a, b, c], undefined, turn);
      expect(choice.reason).toBe('replica');
      picked.push(choice.replica?.name as string);
      turn = choice.turn;
    }
    expect(picked).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('with a mark: only replicas that have replayed it, the mark itself included', () => {
    const names = new Set<string>();
    let turn = 0;
    for (let i = 0; i < 4; i++) {
      const choice = pickReplica([a, b, c], 200n, turn);
      names.add(choice.replica?.name as string);
      turn = choice.turn;
    }
    expect([...names].sort()).toEqual(['b', 'c']);
  });

  it('when no healthy replica has replayed the mark: none, reason own_write_not_replayed, turn kept', () => {
    expect(pickReplica([a, b], 201n, 1)).toEqual({ reason: 'own_write_not_replayed', turn: 1 });
    expect(pickReplica([a, b, c], UNREACHABLE_LSN, 0).replica).toBeUndefined();
  });
});

describe('servesReads', () => {
  it('only a replica found ok by a check no older than the limit', () => {
    expect(servesReads({ state: 'ok', checkedAt: 1_000 }, 1_500, 500)).toBe(true);
    expect(servesReads({ state: 'ok', checkedAt: 1_000 }, 1_501, 500)).toBe(false);
    for (const state of ['starting', 'lagging', 'down', 'not_in_recovery'] as const) {
      expect(servesReads({ state, checkedAt: 1_000 }, 1_000, 500)).toBe(false);
    }
  });
});

describe('parseLsn', () => {
  it('orders like pg_lsn: the high half first', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(UNREACHABLE_LSN);
  });

  it('rejects what is not a pg_lsn', () => {
    for (const text of ['', '0', '0/', '/1', 'g/1', '123456789/0']) expect(() => parseLsn(text)).toThrow(/not a pg_lsn/);
  });
});

describe('primaryReads', () => {
  it('runs every read on the primary repository', async () => {
    const repository = { name: 'primary' };
    expect(await primaryReads(repository).run(1, async (r) => r.name)).toBe('primary');
  });
});
