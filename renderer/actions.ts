// What views can ask for. app.ts implements these against the API and the store.

import type { ViewName } from './store.ts';

export interface Actions {
  show(view: ViewName): void;
  refreshStatus(): Promise<void>;
  createCluster(): Promise<void>;
  destroyCluster(): Promise<void>;
  stopCluster(): Promise<void>;
  startCluster(): Promise<void>;
  runStep(stepId: string): Promise<void>;
  /** Stops a running up or step run (what was done stays; up resumes from there). */
  cancelOperation(operationId: string): Promise<void>;
  checkStep(stepId: string): Promise<void>;
  /** Back to the snapshot after this step: every VM, the PKI and the step states; later steps are not done. */
  rewind(stepId: string): Promise<void>;
  /** Adds hardway-<lab> to the user's kubeconfig (the main process writes it; no key reaches the page). */
  mergeKubeconfig(use: boolean): Promise<void>;
  /** Copies `export KUBECONFIG=<the lab's admin kubeconfig>` (a path, not the key). */
  copyKubeconfigPath(): Promise<void>;
  selectStep(stepId: string): void;
  openTerminal(node: string, where?: 'terminals' | 'walkthrough'): Promise<void>;
  typeInTerminal(node: string, command: string): Promise<void>;
  // Drills and exercises: one runs at a time on the lab; the learner works in the node terminals.
  selectDrill(id: string): void;
  setDrillSnapshot(on: boolean): void;
  startDrill(id: string): Promise<void>;
  checkDrill(): Promise<void>;
  drillHint(): Promise<void>;
  revealDrill(): Promise<void>;
  /** "Run it for me": the reference fix (or the current stage's reference steps). */
  applyDrillReference(): Promise<void>;
  stopDrill(): Promise<void>;
}
