// The page's state, in one place: what the lab is, how it is doing, the steps and their results.
// Views subscribe and redraw their part; nothing here talks to the API.

import type { CheckResult, DrillChecked, DrillOverview, DrillReveal, DrillStarted, DrillStopped, LabEvent, LabStatus, LabSummary, OperationState, SnapshotInfo, StepInfo, StepState } from '../main/shared/api-contract.ts';
import type { ConnectionState } from './transport-browser.ts';

export type ViewName = 'dashboard' | 'walkthrough' | 'terminals' | 'drills';

/** A drill call in flight from this page. */
export type DrillCall = 'start' | 'check' | 'hint' | 'reveal' | 'reference' | 'stop';

export type ActivityLine = { at: string; text: string; level: 'info' | 'stdout' | 'stderr' | 'progress'; node?: string; step?: string };

export interface AppState {
  view: ViewName;
  connection: ConnectionState;
  connectionDetail?: string;
  lab?: LabSummary;
  labError?: string;
  status?: LabStatus;
  statusError?: string;
  statusLoading: boolean;
  steps?: StepInfo[];
  stepsError?: string;
  stepStates: Record<string, StepState>;
  /** The lab's snapshots: a finished step with one after it offers "Rewind to here". */
  snapshots: SnapshotInfo[];
  checks: Record<string, CheckResult>;
  /** Which step calls are in flight from this page: `run` or `check`. */
  busy: Record<string, 'run' | 'check'>;
  stepErrors: Record<string, string>;
  operations: Record<string, OperationState>;
  selectedStep?: string;
  activity: ActivityLine[];
  /** Latest progress line per step, for the walkthrough and the dashboard. */
  progress: Record<string, { message: string; fraction?: number }>;
  /** The drills and exercises of this lab, and the one running (listDrills). */
  drills?: DrillOverview;
  drillsError?: string;
  /** The drill or exercise whose story is shown (default: the running one, else the first). */
  selectedDrill?: string;
  /** The "take a snapshot first" checkbox (on by default). */
  drillSnapshot: boolean;
  drillBusy?: DrillCall;
  /** The last drill call that failed, as the engine said it (for people), with which call it was. */
  drillError?: { call: DrillCall; text: string };
  /** Results of this page's drill calls, each for the lesson it was made on (by id). */
  drillStarted?: DrillStarted;
  drillChecked?: DrillChecked;
  drillRevealed?: { id: string; reveal: DrillReveal };
  drillStopped?: DrillStopped;
}

export class Store {
  state: AppState = {
    view: 'dashboard',
    connection: 'connecting',
    statusLoading: false,
    stepStates: {},
    snapshots: [],
    checks: {},
    busy: {},
    stepErrors: {},
    operations: {},
    activity: [],
    progress: {},
    drillSnapshot: true,
  };
  private readonly listeners = new Set<(state: AppState) => void>();
  private scheduled = false;

  set(patch: Partial<AppState>): void {
    this.state = { ...this.state, ...patch };
    this.schedule();
  }

  update(change: (state: AppState) => void): void {
    change(this.state);
    this.state = { ...this.state };
    this.schedule();
  }

  subscribe(listener: (state: AppState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Engine events change step states, checks, progress and the activity log. */
  applyLabEvent(event: LabEvent): void {
    this.update((s) => {
      if (event.type === 'step') {
        s.stepStates = { ...s.stepStates, [event.state.id]: event.state };
        if (event.state.lastCheck) s.checks = { ...s.checks, [event.state.id]: event.state.lastCheck };
      } else if (event.type === 'check') {
        s.checks = { ...s.checks, [event.result.step]: event.result };
      } else if (event.type === 'log') {
        pushActivity(s, { at: new Date().toISOString(), text: event.line, level: event.stream, node: event.node, step: event.step });
      } else if (event.type === 'progress') {
        if (event.step) s.progress = { ...s.progress, [event.step]: { message: event.message, fraction: event.fraction } };
        pushActivity(s, { at: new Date().toISOString(), text: event.message, level: 'progress', node: event.node, step: event.step });
      }
    });
  }

  // Redraw at most once per frame however many events arrive.
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener(this.state);
    });
  }
}

const MAX_ACTIVITY = 400;

function pushActivity(s: AppState, line: ActivityLine): void {
  s.activity = [...s.activity.slice(-(MAX_ACTIVITY - 1)), line];
}
