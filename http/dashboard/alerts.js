// Alerts: firing and recent ones (acknowledged from here), the rules that
// raise them, and maintenance windows; live through the stream.

import {get, post, query} from '/assets/api.js';
import {action, h, pill, table, throttle, when} from '/assets/view.js';

export async function render(root, {subscribe, canOperate}) {
  const body = h('div', {});
  const load = async () => {
    const [firing, recent, rules, windows] = await Promise.all([
      get(`/api/v1/alerts${query({state: 'firing', limit: 100})}`),
      get(`/api/v1/alerts${query({limit: 50})}`),
      get('/api/v1/alert-rules'),
      get('/api/v1/maintenance-windows'),
    ]);
    const alertColumns = [
      ['Severity', (alert) => pill(alert.severity)], ['State', (alert) => pill(alert.state)],
      ['Summary', (alert) => alert.summary || JSON.stringify(alert.subject)], ['Fired', (alert) => when(alert.fired_at)],
      ['Acknowledged', (alert) => when(alert.acknowledged_at)],
      ['', (alert) => (canOperate && alert.state === 'firing' && !alert.acknowledged_at
        ? action('Acknowledge', async () => {
            await post(`/api/v1/alerts/${alert.alert_id}/ack`, {comment: 'from the dashboard'});
            await load();
          }, {kind: 'secondary', name: 'ack'})
        : '')],
    ];
    const rowAttributes = (alert) => ({'data-alert-id': alert.alert_id});
    body.replaceChildren(h('h1', {}, 'Alerts'),
      h('h2', {}, 'Firing'), h('div', {id: 'firing-alerts'}, table(alertColumns, firing.alerts || [], {empty: 'Nothing is firing.', rowAttributes})),
      h('h2', {}, 'Recent'), table(alertColumns, recent.alerts || [], {empty: 'No alerts yet.', rowAttributes}),
      h('h2', {}, 'Rules'), table([
        ['Name', (rule) => rule.name], ['Kind', (rule) => rule.kind], ['Severity', (rule) => pill(rule.severity)],
        ['Condition', (rule) => JSON.stringify(rule.condition)], ['Scope', (rule) => JSON.stringify(rule.scope)], ['For', (rule) => rule.for],
      ], rules.alert_rules || [], {empty: 'No rules.'}),
      h('h2', {}, 'Maintenance windows'), table([
        ['Scope', (window) => JSON.stringify(window.scope)], ['Starts', (window) => when(window.starts_at)],
        ['Ends', (window) => when(window.ends_at)], ['Active', (window) => (window.active ? 'yes' : 'no')], ['Reason', (window) => window.reason],
      ], windows.windows || [], {empty: 'No maintenance windows.'}));
  };
  await load();
  const later = throttle(() => load().catch(() => {}));
  const unsubscribe = subscribe((event) => /^(alert|rule|maintenance)/i.test(event.stream || '') && later());
  // The stream shows a key of one organization its agents' events only:
  // a slow poll keeps such a screen current too.
  const timer = setInterval(later, 15_000);
  root.append(body);
  return {dispose: () => (unsubscribe(), clearInterval(timer))};
}
