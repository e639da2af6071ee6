// Small DOM helpers shared by the pages. Every value from the API goes in as
// text (textContent), never as markup.

/// An element: h('td', {class: 'x', onclick: f}, 'text', child, [more]).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'value' || name === 'checked') element[name] = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/// A coloured label for a state or status.
export const pill = (value) => h('span', {class: `pill s-${value}`, 'data-value': value}, value ?? '—');

/// A table; `columns` are [heading, cell(row)], `onRow(row)` makes rows clickable.
export function table(columns, rows, {onRow, empty = 'None.', rowAttributes} = {}) {
  if (!rows.length) return h('p', {class: 'muted'}, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map(([heading]) => h('th', {}, heading)))),
    h('tbody', {}, rows.map((row) => h('tr', {
      class: onRow ? 'clickable' : null,
      onclick: onRow ? (event) => event.target.closest('input,button,a') || onRow(row) : null,
      ...(rowAttributes ? rowAttributes(row) : {}),
    }, columns.map(([, cell]) => h('td', {}, cell(row)))))));
}

/// "2026-12-02 15:20:19" from an ISO time (UTC, as the server keeps time).
export const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '—');

/// A description list from [term, value] pairs.
export const details = (pairs) => h('dl', {}, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));

/// Runs `work` (which may answer a promise) at once, then at most once per
/// `ms`: calls while it runs or rests are folded into one more run after,
/// so a burst of events costs two refreshes and the first shows at once.
export function throttle(work, ms = 150) {
  let busy = false;
  let again = false;
  const run = async () => {
    busy = true;
    again = false;
    try {
      await work();
    } finally {
      setTimeout(() => {
        busy = false;
        if (again) run();
      }, ms);
    }
  };
  return () => {
    if (busy) again = true;
    else run();
  };
}

/// An error as a line of the page.
export const errorLine = (error) => h('p', {class: 'error', role: 'alert'}, error.message || String(error));

/// Runs an action from a button: disables it meanwhile, shows a failure next to it.
export function action(label, run, {kind = '', name} = {}) {
  const button = h('button', {type: 'button', class: kind, 'data-action': name || label});
  button.textContent = label;
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.parentElement?.querySelector('.error')?.remove();
    try {
      await run();
    } catch (error) {
      button.after(errorLine(error));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/// A unified line diff of two texts (a longest common subsequence over
/// lines: configs are small), as a <pre> with added and removed lines marked.
export function lineDiff(before, after) {
  const a = (before ?? '').split('\n');
  const b = (after ?? '').split('\n');
  // Past a few million cells the table costs more than it tells: show both whole.
  if (a.length * b.length > 4e6) {
    return h('pre', {class: 'diff'}, a.map((line) => h('span', {class: 'del'}, `- ${line}`)),
      b.map((line) => h('span', {class: 'add'}, `+ ${line}`)));
  }
  const common = Array.from({length: a.length + 1}, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(h('span', {}, `  ${a[i]}\n`));
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || common[i + 1][j] >= common[i][j + 1])) {
      lines.push(h('span', {class: 'del'}, `- ${a[i++]}`));
    } else {
      lines.push(h('span', {class: 'add'}, `+ ${b[j++]}`));
    }
  }
  return h('pre', {class: 'diff'}, lines);
}

/// A unified diff as the API gives it (configs' diff), coloured.
export function unifiedDiff(text) {
  return h('pre', {class: 'diff'}, (text || '').split('\n').map((line) => {
    const kind = line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '';
    return kind ? h('span', {class: kind}, line) : `${line}\n`;
  }));
}
