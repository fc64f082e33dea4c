// The hard way, in order. The engine runs them in this order; the walkthrough shows
// them in this order; `--until` and `--step` take an id or the index in this list.

import type { StepDefinition } from '../engine/step-definition.ts';
import { preflightStep } from './preflight.ts';
import { computeStep } from './compute.ts';
import { certificatesStep } from './certificates.ts';
import { kubeconfigsStep } from './kubeconfigs.ts';
import { encryptionConfigStep } from './encryption-config.ts';
import { etcdStep } from './etcd.ts';
import { controlPlaneStep, rbacStep } from './control-plane.ts';
import { loadBalancerStep } from './load-balancer.ts';
import { workersStep } from './workers.ts';
import { adminAccessStep, corednsStep, smokeTestStep } from './cluster-steps.ts';
import { podRoutesStep } from './pod-routes.ts';

export const HARDWAY_STEPS: StepDefinition[] = [
  preflightStep, // 0
  computeStep, // 1
  certificatesStep, // 2
  kubeconfigsStep, // 3
  encryptionConfigStep, // 4
  etcdStep, // 5
  controlPlaneStep, // 6
  rbacStep, // 7
  loadBalancerStep, // 8
  workersStep, // 9
  adminAccessStep, // 10
  podRoutesStep, // 11
  corednsStep, // 12
  smokeTestStep, // 13
];
