// The few Markdown forms step explanations use (paragraphs, "- " lists, `code`, **bold**,
// fenced code), turned into DOM nodes: never innerHTML, so engine text cannot inject markup.

import { h } from './dom.ts';

export function renderExplanation(text: string): HTMLElement {
  const root = h('div', { class: 'explanation' });
  const blocks = text.replace(/\r\n/g, '\n').split(/\n{2,}/);
  for (const block of blocks) {
    const trimmed = block.trim();
    if (!trimmed) continue;
    if (trimmed.startsWith('```')) {
      root.append(h('pre', { class: 'code' }, trimmed.replace(/^```\w*\n?/, '').replace(/\n?```$/, '')));
    } else if (trimmed.split('\n').every((l) => /^\s*[-*] /.test(l))) {
      root.append(h('ul', {}, trimmed.split('\n').map((l) => h('li', {}, inline(l.replace(/^\s*[-*] /, ''))))));
    } else if (/^#{1,4} /.test(trimmed)) {
      root.append(h('h4', {}, inline(trimmed.replace(/^#+ /, ''))));
    } else {
      root.append(h('p', {}, inline(trimmed.replace(/\n/g, ' '))));
    }
  }
  return root;
}

/** One line of text with `code` and **bold** (for short texts such as a drill's reason). */
export function inline(text: string): Node[] {
  const out: Node[] = [];
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index! > last) out.push(document.createTextNode(text.slice(last, match.index)));
    const token = match[0];
    out.push(token.startsWith('`') ? h('code', {}, token.slice(1, -1)) : h('strong', {}, token.slice(2, -2)));
    last = match.index! + token.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
