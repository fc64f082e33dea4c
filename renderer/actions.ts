// What views can ask for. app.ts implements these against the API and the store.

export interface Actions {
  show(view: 'dashboard' | 'walkthrough' | 'terminals'): void;
  refreshStatus(): Promise<void>;
  createCluster(): Promise<void>;
  destroyCluster(): Promise<void>;
  stopCluster(): Promise<void>;
  startCluster(): Promise<void>;
  runStep(stepId: string): Promise<void>;
  /** Stops a running up or step run (what was done stays; up resumes from there). */
  cancelOperation(operationId: string): Promise<void>;
  checkStep(stepId: string): Promise<void>;
  selectStep(stepId: string): void;
  openTerminal(node: string, where?: 'terminals' | 'walkthrough'): Promise<void>;
  typeInTerminal(node: string, command: string): Promise<void>;
}
