// systemd units as provision/checks/unit-health.sh reports them: state, restarts and the last
// error line. A unit in a crash loop is then shown with its cause ("restarted 4 times; last error:
// F1202 ... PostStartHook "rbac/bootstrap-roles" failed ...") instead of a bare "activating".

import type { Probe } from '../shared/engine-types.ts';
import { probe } from './probe.ts';

export interface UnitHealth {
  unit: string;
  active: string;
  sub: string;
  restarts: number;
  /** Seconds since the unit last became active, when it is. */
  activeForS?: number;
  lastError?: string;
}

function keyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return values;
}

export function parseUnitHealth(sections: Map<string, string>, unit: string): UnitHealth | undefined {
  const block = sections.get(`unit:${unit}`);
  if (block === undefined) return undefined;
  const v = keyValues(block);
  const entered = Number(v.get('ActiveEnterTimestampMonotonic'));
  const now = Number(v.get('MonotonicNow'));
  const active = v.get('ActiveState') || 'unknown';
  return {
    unit,
    active,
    sub: v.get('SubState') || '',
    restarts: Number(v.get('NRestarts')) || 0,
    activeForS: active === 'active' && entered > 0 && now > entered ? Math.round((now - entered) / 1e6) : undefined,
    lastError: v.get('LastError') || undefined,
  };
}

/** "active", or "activating (auto-restart), restarted 4 times; last error: ...". */
export function describeUnit(h: UnitHealth | undefined): string {
  if (!h) return 'unknown (no answer)';
  const parts = [`${h.active}${h.sub && h.sub !== 'running' ? ` (${h.sub})` : ''}`];
  if (h.restarts > 0) parts.push(`restarted ${h.restarts} time${h.restarts === 1 ? '' : 's'} by systemd`);
  if (h.lastError && (h.active !== 'active' || h.restarts > 0)) parts.push(`last error: ${h.lastError}`);
  return parts.join('; ');
}

/** Active and running. A unit systemd keeps restarting is not, even while it is briefly up. */
export function unitRunning(h: UnitHealth | undefined): boolean {
  return h?.active === 'active' && h.sub === 'running';
}

export function unitProbe(unit: string, h: UnitHealth | undefined, node: string, hint: string): Probe {
  return probe({
    name: `${unit} active`,
    node,
    ok: unitRunning(h),
    expected: 'active (running)',
    seen: describeUnit(h),
    hint,
  });
}
