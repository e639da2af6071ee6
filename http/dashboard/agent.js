// One agent: identity, labels, health, desired vs applied vs effective
// config with its drift and a diff, metric charts over a chosen range, its
// commands and their states, and its events; live through the stream.

import {get, post, api, query} from '/assets/api.js';
import {lineChart} from '/assets/chart.js';
import {action, details, h, lineDiff, pill, table, throttle, when} from '/assets/view.js';

const RANGES = {'15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3};

const fileBodies = (files) => Object.fromEntries(Object.entries(files || {}).map(([name, file]) => [name, file.body ?? '']));

// Desired against effective, file by file (what the agent runs, as it
// reported it, against what muster wants it to run).
function configDiff(desired, effective) {
  const want = fileBodies(desired?.files);
  const have = fileBodies(effective?.files);
  const names = [...new Set([...Object.keys(want), ...Object.keys(have)])].sort();
  const changed = names.filter((name) => want[name] !== have[name]);
  if (!desired || !effective) return h('p', {class: 'muted'}, 'Nothing to compare yet: the agent needs both a desired and a reported effective config.');
  if (!changed.length) return h('p', {id: 'config-in-sync'}, 'The effective config matches the desired one.');
  return h('div', {id: 'config-diff'}, changed.map((name) => [
    h('h3', {}, `${name}: `, name in want ? (name in have ? 'differs' : 'missing on the agent') : 'only on the agent'),
    lineDiff(have[name], want[name])]));
}

function configSection(config) {
  const desired = config.desired;
  return h('div', {class: 'card', id: 'agent-config'},
    h('h2', {}, 'Configuration'),
    details([
      ['Status', h('span', {id: 'config-status'}, pill(config.config_status))],
      ['Desired', desired ? `${desired.config?.name ?? '(settings only)'} v${desired.config?.version ?? '—'} (${(desired.config_hash || '').slice(0, 12)})` : 'none'],
      ['Applied (reported)', config.reported ? `${config.reported.status} (${(config.reported.config_hash || '').slice(0, 12)})` : 'no report yet'],
      ['Effective (reported)', config.effective ? `reported ${when(config.effective.reported_at)}` : 'none reported'],
      ['Groups', (config.groups || []).map((group) => group.name ?? group).join(', ') || '—'],
    ]),
    h('h3', {}, 'Effective → desired'),
    configDiff(desired, config.effective));
}

async function metricsSection(agent, range) {
  const names = Object.keys(agent.health?.metrics || {});
  const section = h('div', {class: 'card', id: 'agent-metrics'});
  const picker = h('div', {class: 'actions'}, 'Range:', Object.keys(RANGES).map((name) =>
    h('a', {href: `#/agents/${agent.agent_id}?range=${name}`, class: name === range ? 'pill s-running' : 'pill'}, name)));
  section.append(h('h2', {}, 'Metrics'), picker);
  if (!names.length) return section.append(h('p', {class: 'muted'}, 'No metrics reported yet.')), section;
  // Up to the agent's last heartbeat when the server's clock is ahead of this browser's.
  const to = Math.max(Date.now(), Date.parse(agent.last_seen) || 0) + 1000;
  const charts = await Promise.all(names.slice(0, 6).map(async (name) => {
    const series = await get(`/api/v1/agents/${agent.agent_id}/metrics${query({name, from: to - RANGES[range], to})}`);
    const avg = series.points.filter((p) => p[3] !== null).map((p) => [p[0], p[3]]);
    return h('div', {}, h('h3', {}, `${name} (${series.resolution ?? ''}, average)`), lineChart([{name, points: avg}], {label: name}));
  }));
  section.append(h('div', {class: 'grid2'}, charts));
  return section;
}

export async function render(root, {agentId, query: params, subscribe, canOperate}) {
  const range = RANGES[params.get('range')] ? params.get('range') : '1h';
  const body = h('div', {});
  const load = async () => {
    const [agent, config, commands, events] = await Promise.all([
      get(`/api/v1/agents/${agentId}`),
      get(`/api/v1/agents/${agentId}/config`),
      get(`/api/v1/agents/${agentId}/commands`),
      get(`/api/v1/agents/${agentId}/events${query({from_version: 1, limit: 1000})}`),
    ]);
    const health = agent.health || {};
    const writes = canOperate ? h('div', {class: 'actions', id: 'agent-actions'},
      action('Restart', () => post(`/api/v1/agents/${agentId}/commands`, {type: 'restart'}).then(load), {name: 'restart'}),
      action('Decommission', () => post(`/api/v1/agents/${agentId}/decommission`).then(load), {kind: 'secondary', name: 'decommission'}),
      action('Deregister', () => api('DELETE', `/api/v1/agents/${agentId}`).then(() => (location.hash = '#/agents')), {kind: 'danger', name: 'deregister'})) : null;
    body.replaceChildren(
      h('h1', {}, agent.name || agent.hostname || agent.instance_id, ' ', h('span', {id: 'agent-status'}, pill(agent.status))),
      writes,
      h('div', {class: 'grid2'},
        h('div', {class: 'card', id: 'agent-identity'}, h('h2', {}, 'Identity'), details([
          ['Agent id', agent.agent_id], ['Instance', agent.instance_id], ['Hostname', agent.hostname || '—'],
          ['Type', agent.type], ['Version', agent.version], ['Organization', agent.org],
          ['Registered', when(agent.registered_at)], ['Status since', when(agent.status_since)],
          ['Labels', Object.entries(agent.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
        ])),
        h('div', {class: 'card', id: 'agent-health'}, h('h2', {}, 'Health'), details([
          ['Health', pill(health.health)], ['Score', health.health_score ?? '—'],
          ['Last seen', `${when(health.last_seen)} (${health.seconds_since_last_seen ?? '—'} s ago)`],
          ['Uptime', health.uptime_seconds === undefined ? '—' : `${health.uptime_seconds} s`],
        ]))),
      configSection(config),
      await metricsSection(agent, range),
      h('div', {class: 'card', id: 'agent-commands'}, h('h2', {}, 'Commands'), table([
        ['Command', (command) => command.command_id], ['Type', (command) => command.type],
        ['State', (command) => pill(command.state)], ['Created', (command) => when(command.created_at)],
        ['Finished', (command) => when(command.finished_at)],
      ], commands.commands || [], {empty: 'No commands.'})),
      h('div', {class: 'card', id: 'agent-events'}, h('h2', {}, 'Events'), table([
        ['Time', (event) => when(event.time)], ['Event', (event) => event.type],
        ['By', (event) => event.meta?.principal || event.meta?.cause || ''],
      ], (events.events || []).slice().reverse(), {empty: 'No events.'})));
  };
  await load();
  const later = throttle(() => load().catch(() => {}));
  const unsubscribe = subscribe((event) => (event.stream === `agent:${agentId}` || event.data?.agent_id === agentId) && later());
  root.append(body);
  return {dispose: unsubscribe};
}
