// The template engine is strict, and every template the plan names exists, is filled completely,
// and nothing in provision/ is left unused.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { PRESETS } from '../../main/spec/cluster-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { fillTemplate, PROVISION_DIR, renderTemplate, TemplateError, templatePlaceholders } from '../../main/render/template.ts';
import { TEMPLATE_VALUES } from '../../main/render/template-values.ts';
import { renderNodeFile } from '../../main/render/render-node-file.ts';
import { KUBECONFIG_TEMPLATE, ENCRYPTION_CONFIG_TEMPLATE } from '../../main/render/render-node-file.ts';

test('fills placeholders and indents multi-line values that stand alone on their line', () => {
  const text = 'a={{a}} b={{b}}\nlist:\n    {{items}}\nend\n';
  assert.equal(fillTemplate('t', text, { a: '1', b: '2', items: 'x\ny' }), 'a=1 b=2\nlist:\n    x\n    y\nend\n');
  assert.equal(fillTemplate('t', 'start\n  {{items}}\nend', { items: '' }), 'start\nend', 'an empty whole-line value drops the line');
  assert.deepEqual(templatePlaceholders('{{a}} {{b}} {{a}}'), ['a', 'b']);
});

test('a placeholder without a value is an error that names the template, the line and the placeholder', () => {
  assert.throws(
    () => fillTemplate('systemd/x.service', 'one\n--name={{nodeName}} --ip={{nodeIp}}\n', { nodeName: 'n' }),
    (error: unknown) =>
      error instanceof TemplateError && /provision\/systemd\/x\.service/.test(error.message) && /line 2: no value for \{\{nodeIp\}\}/.test(error.message),
  );
});

test('a value no placeholder uses is an error (catches misspelt names)', () => {
  assert.throws(() => fillTemplate('t', '{{nodeName}}', { nodeName: 'n', nodeIP: '1.2.3.4' }), /never uses: nodeIP/);
});

test('malformed placeholders are errors, not copied verbatim', () => {
  for (const text of ['{{ nodeName }}', '{{node-name}}', '{{nodeName}', 'x }} y', '{{}}']) {
    assert.throws(() => fillTemplate('t', text, {}), /malformed placeholder/, text);
  }
});

test('a multi-line value inside a line is an error', () => {
  assert.throws(() => fillTemplate('t', 'servers: {{list}}', { list: 'a\nb' }), /must stand alone on its line/);
});

test('a template that does not exist is an error naming the path and what to do', () => {
  assert.throws(() => renderTemplate('systemd/no-such.service', {}), (error: unknown) => {
    return error instanceof TemplateError && error.message.includes(join(PROVISION_DIR, 'systemd/no-such.service')) && /file-plan\.ts/.test(error.message);
  });
  assert.throws(() => renderTemplate('../package.json', {}), /must be a path inside/);
});

test('a real template with a missing value fails', () => {
  assert.throws(() => renderTemplate('systemd/kubelet.service', { nodeName: 'worker-0' }), /no value for \{\{nodeIp\}\}/);
});

test('the engine reads real template files (a temporary template under provision/)', (t) => {
  const dir = mkdtempSync(join(PROVISION_DIR, '.test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'x.conf'), 'ip={{ip}}\n');
  const name = relative(PROVISION_DIR, join(dir, 'x.conf'));
  assert.equal(renderTemplate(name, { ip: '10.0.0.1' }), 'ip=10.0.0.1\n');
  assert.throws(() => renderTemplate(name, { ip: '10.0.0.1', extra: 'x' }), /never uses: extra/);
});

test('every planned template of every preset exists and is filled completely', () => {
  const noMaterial = {
    pki: () => {
      throw new Error('templates must not need PKI material');
    },
    encryptionKey: '',
  };
  for (const preset of PRESETS) {
    const plan = buildPlan(parseSpec(defaultSpecText().replace(/^preset: .*$/m, `preset: ${preset}`)).spec);
    for (const node of plan.nodes) {
      for (const file of node.files) {
        if (file.origin.kind !== 'template') continue;
        const text = renderNodeFile(plan, node, file, noMaterial);
        assert.doesNotMatch(text, /\{\{|\}\}/, `${preset}/${node.name}:${file.path}`);
        assert.ok(text.length > 0);
      }
    }
  }
});

test('provision/ holds no template that nothing uses, and every template has a values entry', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.push(relative(PROVISION_DIR, full));
    }
  };
  walk(PROVISION_DIR);
  const known = new Set([...Object.keys(TEMPLATE_VALUES), KUBECONFIG_TEMPLATE, ENCRYPTION_CONFIG_TEMPLATE, 'README.md']);
  // Only the folders of rendered node files: others under provision/ (image/, steps/, checks/)
  // belong to the image builder and the walkthrough and are not filled by the renderer.
  const rendered = /^(common|systemd|lb|controller|worker)\/|^[^/]+\.(yaml|yml|conf|cfg)$/;
  const orphans = files.filter((f) => rendered.test(f) && !known.has(f));
  assert.deepEqual(orphans, [], 'files in provision/ that no plan entry or renderer uses');
  const plan = buildPlan(parseSpec(defaultSpecText()).spec);
  const planned = new Set(plan.nodes.flatMap((n) => n.files.flatMap((f) => (f.origin.kind === 'template' ? [f.origin.template] : []))));
  assert.deepEqual(
    Object.keys(TEMPLATE_VALUES).filter((name) => !planned.has(name)),
    [],
    'TEMPLATE_VALUES entries for templates the ha plan never uses',
  );
});
