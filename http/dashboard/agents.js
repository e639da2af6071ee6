// Agents: the list with every filter GET /api/v1/agents has, paged by the
// API (cursor), and bulk actions (POST /api/v1/bulk) on the agents ticked.
// The page's filters live in the URL (#/agents?status=OFFLINE&...).

import {get, post, query} from '/assets/api.js';
import {action, h, pill, table, throttle, when} from '/assets/view.js';

const PAGE = 50;
const FILTERS = ['status', 'config_status', 'version', 'type', 'group', 'label', 'q'];

function filterForm(current) {
  const text = (name, label, placeholder) =>
    h('label', {}, label, h('input', {name, value: current.get(name) || '', placeholder}));
  const choice = (name, label, options) =>
    h('label', {}, label, h('select', {name}, ['', ...options].map((option) =>
      h('option', {value: option, selected: current.get(name) === option}, option || 'any'))));
  return h('form', {class: 'filters', id: 'agent-filters'},
    choice('status', 'Status', ['ONLINE', 'DEGRADED', 'OFFLINE']),
    choice('config_status', 'Config status', ['none', 'pending', 'applying', 'applied', 'failed', 'drifted']),
    text('version', 'Version', '1.2.3'),
    text('type', 'Type', 'collector'),
    text('group', 'Group', 'prod-eu'),
    text('label', 'Labels', 'env=prod, region=eu'),
    text('q', 'Search', 'name, hostname, instance'),
    h('button', {type: 'submit'}, 'Filter'));
}

export async function render(root, {query: current, subscribe, canOperate}) {
  const filters = {};
  for (const name of FILTERS) if (current.get(name)) filters[name] = current.get(name);
  const labels = (filters.label || '').split(',').map((pair) => pair.trim()).filter(Boolean);
  const listed = h('div', {id: 'agent-list'});
  const selected = new Set();
  const cursors = [''];  // The cursor of each page seen; the last is the page shown.
  const form = filterForm(current);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = {};
    for (const [name, value] of new FormData(form)) if (value.trim()) chosen[name] = value.trim();
    location.hash = `#/agents${query(chosen)}`;
  });

  const bulkBar = h('div', {class: 'actions', id: 'bulk-actions'});
  const showBulk = () => {
    if (!canOperate) return;
    const ids = [...selected];
    const group = h('input', {placeholder: 'group', 'aria-label': 'group for the bulk action'});
    // Each job acts on exactly the agents ticked; its progress is on its own route.
    const bulk = (name, label, params, kind) => action(label, async () => {
      const job = await post('/api/v1/bulk', {selector: {agent_ids: ids}, action: name, params: params()});
      bulkBar.append(h('span', {class: 'muted'}, ` bulk job ${job.job_id}: ${job.state}`));
    }, {kind, name: `bulk-${name}`});
    bulkBar.replaceChildren(h('b', {}, `${ids.length} selected`),
      ids.length ? [group,
        bulk('add_to_group', 'Add to group', () => ({group: group.value.trim()})),
        bulk('remove_from_group', 'Remove from group', () => ({group: group.value.trim()}), 'secondary'),
        bulk('deregister', 'Deregister', () => ({}), 'danger')] : []);
  };

  const load = async () => {
    const page = await get(`/api/v1/agents${query({...filters, label: labels, limit: PAGE, cursor: cursors.at(-1)})}`);
    const columns = [
      ['Agent', (agent) => h('a', {href: `#/agents/${agent.agent_id}`}, agent.name || agent.hostname || agent.instance_id)],
      ['Status', (agent) => pill(agent.status)],
      ['Config', (agent) => pill(agent.config_status)],
      ['Version', (agent) => agent.version],
      ['Type', (agent) => agent.type],
      ['Labels', (agent) => Object.entries(agent.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ')],
      ['Last seen', (agent) => when(agent.last_seen)],
    ];
    if (canOperate) {
      columns.unshift(['', (agent) => h('input', {type: 'checkbox', 'aria-label': 'select', checked: selected.has(agent.agent_id),
        onchange: (event) => (event.target.checked ? selected.add(agent.agent_id) : selected.delete(agent.agent_id), showBulk())})]);
    }
    listed.replaceChildren(
      h('p', {class: 'muted', id: 'agent-total'}, `${page.total} agents match`),
      table(columns, page.agents, {
        empty: 'No agent matches.',
        rowAttributes: (agent) => ({'data-agent-id': agent.agent_id, 'data-status': agent.status}),
      }),
      h('div', {class: 'pager'},
        h('button', {type: 'button', class: 'secondary', disabled: cursors.length === 1,
          onclick: () => (cursors.pop(), load())}, 'Previous'),
        h('span', {class: 'muted'}, `page ${cursors.length}`),
        h('button', {type: 'button', class: 'secondary', disabled: !page.next_cursor,
          onclick: () => (cursors.push(page.next_cursor), load())}, 'Next')));
  };
  await load();
  showBulk();
  const later = throttle(() => load().catch(() => {}));
  const unsubscribe = subscribe((event) => event.stream?.startsWith('agent:') && later());
  root.append(h('h1', {}, 'Agents'), form, bulkBar, listed);
  return {dispose: unsubscribe};
}
