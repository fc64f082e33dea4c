// Changes one value of a lab's spec file in place, keeping its comments and layout, and only when
// the result is still a valid spec: what the upgrade exercise does to versions.kubernetes once
// every node runs the new release (the checkers then expect it).

import { readFileSync, statSync } from 'node:fs';
import { isScalar, parseDocument } from 'yaml';
import { writeFileAtomic } from '../pki/write-file-atomic.ts';
import { parseSpec } from './parse-spec.ts';
import type { ClusterSpec } from './cluster-spec.ts';

/** Sets versions.kubernetes in the spec file at `path`; returns the spec as it now reads. */
export function setSpecKubernetesVersion(path: string, version: string): ClusterSpec {
  const before = readFileSync(path, 'utf8');
  const doc = parseDocument(before);
  const node = doc.getIn(['versions', 'kubernetes'], true);
  let after: string;
  if (isScalar(node) && node.range) {
    // Only the value's characters change: every comment and column stays where the user put it.
    after = `${before.slice(0, node.range[0])}${version}${before.slice(node.range[1])}`;
  } else {
    doc.setIn(['versions', 'kubernetes'], version);
    after = doc.toString();
  }
  // Throws SpecError (what is wrong, and what to do) before anything is written.
  const { spec } = parseSpec(after, path);
  if (after !== before) writeFileAtomic(path, after, statSync(path).mode & 0o777);
  return spec;
}
