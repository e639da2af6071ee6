// Configs and policies: the list, one config's versions, the diff between
// any two of them, and rollback to an earlier one.

import {get, post, query} from '/assets/api.js';
import {action, h, table, throttle, unifiedDiff, when} from '/assets/view.js';

async function list(root) {
  const {configs} = await get('/api/v1/configs');
  root.append(h('h1', {}, 'Configs and policies'), table([
    ['Name', (config) => h('a', {href: `#/configs/${encodeURIComponent(config.name)}`}, config.name)],
    ['Kind', (config) => config.kind], ['Latest version', (config) => config.latest_version],
    ['Updated', (config) => when(config.updated_at)], ['Description', (config) => config.description],
  ], configs, {empty: 'No configs yet.'}));
}

export async function render(root, {name, query: params, subscribe, canOperate, refresh}) {
  if (!name) return list(root);
  const path = `/api/v1/configs/${encodeURIComponent(name)}`;
  const {versions} = await get(`${path}/versions`);
  const latest = versions.at(-1)?.version ?? 1;
  const from = Number(params.get('from')) || Math.max(1, latest - 1);
  const to = Number(params.get('to')) || latest;
  const picker = (field, value) => h('select', {name: field, 'aria-label': field}, versions.map((version) =>
    h('option', {value: version.version, selected: version.version === value}, `v${version.version}`)));
  const form = h('form', {class: 'filters', id: 'diff-form'}, h('label', {}, 'From', picker('from', from)),
    h('label', {}, 'To', picker('to', to)), h('button', {type: 'submit'}, 'Compare'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = Object.fromEntries(new FormData(form));
    location.hash = `#/configs/${encodeURIComponent(name)}${query(chosen)}`;
  });
  const diff = await get(`${path}/diff${query({from, to})}`);
  const rollback = (version) => canOperate && version.version !== latest
    ? action(`Roll back to v${version.version}`, async () => {
        await post(`${path}/rollback`, {version: version.version});
        await refresh();
      }, {kind: 'secondary', name: 'rollback'})
    : '';
  root.append(h('h1', {}, `Config ${name}`),
    h('h2', {}, 'Versions'),
    table([
      ['Version', (version) => `v${version.version}`], ['Created', (version) => when(version.created_at)],
      ['Author', (version) => version.author], ['Message', (version) => version.message],
      ['Hash', (version) => (version.hash || '').slice(0, 12)], ['', rollback],
    ], versions.slice().reverse()),
    h('h2', {}, `Diff v${from} → v${to}`), form,
    h('div', {id: 'version-diff'}, diff.files.length
      ? diff.files.map((file) => [h('h3', {}, `${file.name} (${file.change})`), unifiedDiff(file.diff)])
      : h('p', {class: 'muted'}, 'No difference.')));
  // A new version (from here or elsewhere) shows the page again, versions and diff.
  const later = throttle(refresh);
  const unsubscribe = subscribe((event) => event.stream?.startsWith('config:') && event.stream.endsWith(`/${name}`) && later());
  return {dispose: unsubscribe};
}
