// Groups: their selectors, priorities and assignments, and one group's members (paged by the API).

import {get, query} from '/assets/api.js';
import {h, pill, table} from '/assets/view.js';

const selectorText = (selector) => (selector ? Object.entries(selector.labels || selector).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ') : 'explicit members only');

export async function render(root, {name, query: params}) {
  if (!name) {
    const {groups} = await get('/api/v1/groups');
    root.append(h('h1', {}, 'Groups'), table([
      ['Name', (group) => h('a', {href: `#/groups/${encodeURIComponent(group.name)}`}, group.name)],
      ['Selector', (group) => selectorText(group.selector)], ['Priority', (group) => group.priority],
      ['Members', (group) => group.member_count], ['Config', (group) => group.assignment?.config ?? '—'],
      ['Description', (group) => group.description],
    ], groups, {empty: 'No groups yet.'}));
    return;
  }
  const path = `/api/v1/groups/${encodeURIComponent(name)}`;
  const cursor = params.get('cursor') || '';
  const [group, members] = await Promise.all([get(path), get(`${path}/agents${query({limit: 50, cursor})}`)]);
  root.append(h('h1', {}, `Group ${group.name}`),
    h('div', {class: 'card'}, h('dl', {},
      h('dt', {}, 'Selector'), h('dd', {}, selectorText(group.selector)),
      h('dt', {}, 'Priority'), h('dd', {}, group.priority),
      h('dt', {}, 'Assignment'), h('dd', {}, group.assignment ? JSON.stringify(group.assignment) : '—'),
      h('dt', {}, 'Members'), h('dd', {}, group.member_count))),
    h('h2', {}, 'Members'),
    table([
      ['Agent', (agent) => h('a', {href: `#/agents/${agent.agent_id}`}, agent.name || agent.hostname || agent.instance_id)],
      ['Status', (agent) => pill(agent.status)], ['Config', (agent) => pill(agent.config_status)],
      ['Version', (agent) => agent.version],
    ], members.agents || [], {empty: 'No members.'}),
    members.next_cursor ? h('p', {}, h('a', {href: `#/groups/${encodeURIComponent(name)}${query({cursor: members.next_cursor})}`}, 'Next page')) : '');
}
