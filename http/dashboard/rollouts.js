// Rollouts: each one's state and stages' progress, paused, resumed or
// aborted from here; live through the stream.

import {get, post, query} from '/assets/api.js';
import {action, h, pill, table, throttle, when} from '/assets/view.js';

function stageProgress(stage) {
  const agents = stage.agents ?? 0;
  return h('span', {}, h('progress', {max: Math.max(agents, 1), value: stage.applied ?? 0}),
    ` ${stage.applied ?? 0}/${agents} applied, ${stage.failed ?? 0} failed, ${stage.unhealthy ?? 0} unhealthy, ${stage.offline ?? 0} offline`);
}

function steering(rollout, reload) {
  const id = rollout.rollout_id;
  const step = (verb, label, kind) => action(label, async () => {
    await post(`/api/v1/rollouts/${id}/${verb}`);
    await reload();
  }, {kind, name: verb});
  if (rollout.state === 'running') return [step('pause', 'Pause', 'secondary'), step('abort', 'Abort', 'danger')];
  if (rollout.state === 'paused') return [step('resume', 'Resume'), step('abort', 'Abort', 'danger')];
  return [];
}

export async function render(root, {rolloutId, query: params, subscribe, canOperate}) {
  const body = h('div', {});
  const load = async () => {
    if (!rolloutId) {
      const page = await get(`/api/v1/rollouts${query({limit: 50, cursor: params.get('cursor')})}`);
      body.replaceChildren(h('h1', {}, 'Rollouts'), table([
        ['Name', (rollout) => h('a', {href: `#/rollouts/${rollout.rollout_id}`}, rollout.name)],
        ['State', (rollout) => h('span', {'data-rollout-state': rollout.rollout_id}, pill(rollout.state))],
        ['Stage', (rollout) => `${(rollout.current_stage ?? 0) + 1} of ${rollout.stages.length}`],
        ['Target', (rollout) => JSON.stringify(rollout.target)], ['Created', (rollout) => when(rollout.created_at)],
        ['', (rollout) => (canOperate ? h('div', {class: 'actions'}, steering(rollout, load)) : '')],
      ], page.rollouts || [], {empty: 'No rollouts yet.', rowAttributes: (rollout) => ({'data-rollout-id': rollout.rollout_id})}),
      page.next_cursor ? h('p', {}, h('a', {href: `#/rollouts${query({cursor: page.next_cursor})}`}, 'Next page')) : '');
      return;
    }
    const rollout = await get(`/api/v1/rollouts/${rolloutId}`);
    body.replaceChildren(
      h('h1', {}, `Rollout ${rollout.name} `, h('span', {id: 'rollout-state'}, pill(rollout.state))),
      canOperate ? h('div', {class: 'actions', id: 'rollout-actions'}, steering(rollout, load)) : '',
      rollout.reason ? h('p', {}, `Reason: ${typeof rollout.reason === 'string' ? rollout.reason : JSON.stringify(rollout.reason)}`) : '',
      h('h2', {}, 'Stages'),
      table([
        ['Stage', (stage) => String(rollout.stages.indexOf(stage) + 1)],
        ['Size', (stage) => (stage.percent !== undefined ? `${stage.percent}%` : `${stage.count} agents`)],
        ['State', (stage) => pill(stage.state)], ['Progress', stageProgress],
        ['Started', (stage) => when(stage.started_at)], ['Finished', (stage) => when(stage.finished_at)],
      ], rollout.stages),
      h('h2', {}, 'Events'),
      table([['Time', (event) => when(event.time)], ['Event', (event) => event.type], ['By', (event) => event.principal || event.cause || '']],
        (rollout.events || []).slice().reverse()));
  };
  await load();
  const later = throttle(() => load().catch(() => {}));
  const unsubscribe = subscribe((event) => event.stream?.startsWith('rollout:') && later());
  // The stream shows a key of one organization its agents' events only:
  // a slow poll keeps such a screen current too.
  const timer = setInterval(later, 15_000);
  root.append(body);
  return {dispose: () => (unsubscribe(), clearInterval(timer))};
}
