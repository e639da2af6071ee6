// Fleet overview: counts by status, config status, version and type (GET
// /api/v1/stats), online/offline over time, and the log's latest events as
// they stream in.

import {get, query} from '/assets/api.js';
import {lineChart} from '/assets/chart.js';
import {h, pill, throttle, when} from '/assets/view.js';

const HISTORY = 'muster.overview.history';
const HISTORY_POINTS = 720;
const EVENTS_SHOWN = 25;

// Online and offline counts over time, sampled by this browser tab each
// time the counts change and every 15 s (the API keeps no such history).
function remember(stats) {
  const history = JSON.parse(sessionStorage.getItem(HISTORY) || '[]');
  const online = (stats.by_status.ONLINE || 0) + (stats.by_status.DEGRADED || 0);
  history.push([Date.now(), online, stats.by_status.OFFLINE || 0]);
  const kept = history.slice(-HISTORY_POINTS);
  sessionStorage.setItem(HISTORY, JSON.stringify(kept));
  return kept;
}

function counts(title, values, {id} = {}) {
  const entries = Object.entries(values || {}).sort((a, b) => b[1] - a[1]);
  return h('div', {class: 'card', id},
    h('h2', {}, title),
    entries.length
      ? h('div', {class: 'counts'}, entries.map(([name, count]) =>
          h('div', {'data-count': name}, pill(name), h('b', {}, count))))
      : h('p', {class: 'muted'}, 'None.'));
}

function eventLine(event) {
  const agent = event.stream?.startsWith('agent:') ? event.stream.slice(6) : '';
  return h('li', {'data-position': event.position},
    h('time', {}, when(event.time)), h('b', {}, event.type), ' ',
    agent ? h('a', {href: `#/agents/${agent}`}, event.stream) : h('span', {class: 'muted'}, event.stream));
}

export async function render(root, {subscribe}) {
  const cards = h('div', {class: 'cards'});
  const chart = h('div', {class: 'card'});
  const events = h('ul', {class: 'events', id: 'latest-events'});

  const refresh = async () => {
    const stats = await get('/api/v1/stats?health=true');
    const history = remember(stats);
    cards.replaceChildren(
      h('div', {class: 'card', id: 'total'}, h('h2', {}, 'Agents'), h('div', {class: 'big', 'data-count': 'total'}, stats.total)),
      counts('Status', stats.by_status, {id: 'by-status'}),
      counts('Health', stats.by_health, {id: 'by-health'}),
      counts('Config status', stats.by_config_status, {id: 'by-config-status'}),
      counts('By version', stats.by_version, {id: 'by-version'}),
      counts('By type', stats.by_type, {id: 'by-type'}));
    chart.replaceChildren(h('h2', {}, 'Online and offline over time'),
      h('div', {class: 'legend'}, h('span', {class: 'online'}, '— online'), h('span', {class: 'offline'}, '— offline')),
      lineChart([
        {name: 'online', className: 'online', points: history.map(([t, online]) => [t, online])},
        {name: 'offline', className: 'offline', points: history.map(([t, , offline]) => [t, offline])},
      ], {label: 'online and offline agents over time'}));
    return stats;
  };

  const stats = await refresh();
  const from = Math.max(1, stats.log_position - EVENTS_SHOWN + 1);
  const recent = await get(`/api/v1/events${query({from_position: from, limit: EVENTS_SHOWN})}`);
  events.replaceChildren(...recent.events.reverse().map(eventLine));

  const later = throttle(() => refresh().catch(() => {}));
  const unsubscribe = subscribe((event) => {
    events.prepend(eventLine(event));
    while (events.children.length > EVENTS_SHOWN) events.lastChild.remove();
    later();
  });
  const timer = setInterval(later, 15_000);

  root.append(h('h1', {}, 'Fleet overview'), cards, chart, h('div', {class: 'card'}, h('h2', {}, 'Latest events'), events));
  return {dispose: () => (unsubscribe(), clearInterval(timer))};
}
