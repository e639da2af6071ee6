// The web dashboard in a real browser (Debian's chromium) against the real
// muster: it loads from the binary alone with a strict CSP, signs in, shows
// what the API says, follows the live stream without a reload, and offers
// writes only to the roles that may make them.

import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';

import {eventually, Muster} from '../opamp/muster.mjs';
import {heartbeat, issueKey, launchBrowser, openPage, registerAgent, signInWithKey} from './browser.mjs';

const HEARTBEAT_TIMEOUT_MS = 120_000;  // muster's default --heartbeat-timeout

let server;
let browser;
const pages = [];

before(async () => {
  server = await Muster.start();
  browser = await launchBrowser();
});

after(async () => {
  for (const page of pages) {
    assert.deepEqual(page.outsideRequests, [], 'the dashboard asks nothing of any other server');
  }
  await browser?.close();
  await server?.close();
});

async function newPage() {
  const page = await openPage(browser, server);
  pages.push(page);
  return page;
}

const textOf = async (page, selector) => (await page.textContent(selector))?.trim();

test('the page and its assets come from the binary with a strict CSP, ETags, and JSON for an unknown asset', async () => {
  const index = await fetch(`${server.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  const csp = index.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'no inline script, no other origin');
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(index.headers.get('x-frame-options'), 'DENY');
  const html = await index.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from another host');

  const script = await fetch(`${server.url}/assets/app.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type'), /^text\/javascript/);
  const tag = script.headers.get('etag');
  assert.ok(tag, 'an ETag');
  assert.equal(script.headers.get('cache-control'), 'no-cache');
  const again = await fetch(`${server.url}/assets/app.js`, {headers: {'If-None-Match': tag}});
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
  const styles = await fetch(`${server.url}/assets/style.css`);
  assert.match(styles.headers.get('content-type'), /^text\/css/);

  const unknown = await fetch(`${server.url}/assets/nothing.js`);
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, 'ROUTE_NOT_FOUND');
  // The agents' listener serves no dashboard.
  const onAgents = await fetch(`${server.agentUrl}/`);
  assert.equal(onAgents.status, 404);
});

test('without a credential the page shows the sign-in form, and a wrong key is refused on the page', async () => {
  const page = await newPage();
  await page.goto(`${server.url}/#/agents`);
  await page.waitForSelector('#key-signin');
  assert.equal(await page.isHidden('#nav'), true);
  await page.fill('#key-signin input[name=key]', 'mk_0123456789abcdef_notakey');
  await page.click('#key-signin button[type=submit]');
  await page.waitForSelector('.signin [role=alert]');
  assert.equal(await page.isHidden('#nav'), true);
  assert.deepEqual(page.consoleErrors.filter((error) => !error.includes('401')), []);
});

test('signed in with a key, the overview counts match the API and a new agent shows live, then goes offline live', async () => {
  const first = await registerAgent(server, 'overview-1', {type: 'collector', version: '1.0.0', labels: {env: 'prod'}});
  await heartbeat(server, first);
  const page = await newPage();
  await signInWithKey(page, server, server.adminKey);
  await page.waitForSelector('[data-page=overview] [data-count=total]');

  const stats = await server.call('GET', '/api/v1/stats?health=true');
  assert.equal(Number(await textOf(page, '[data-count=total]')), stats.total);
  for (const [status, count] of Object.entries(stats.by_status)) {
    assert.equal(await textOf(page, `#by-status [data-count="${status}"] b`), String(count), status);
  }
  for (const [health, count] of Object.entries(stats.by_health)) {
    assert.equal(await textOf(page, `#by-health [data-count="${health}"] b`), String(count), health);
  }
  for (const [version, count] of Object.entries(stats.by_version)) {
    assert.equal(await textOf(page, `#by-version [data-count="${version}"] b`), String(count), version);
  }
  assert.ok(await page.$('svg.chart path.online'), 'the online chart is drawn');

  // A new agent: the count moves and its registration is listed, no reload.
  const total = stats.total;
  const navigations = [];
  page.on('framenavigated', (frame) => frame === page.mainFrame() && navigations.push(frame.url()));
  const second = await registerAgent(server, 'overview-2', {type: 'collector', version: '1.0.1'});
  await page.waitForFunction((expected) => document.querySelector('[data-count=total]')?.textContent === String(expected), total + 1);
  await page.waitForSelector(`#latest-events a[href="#/agents/${second.agentId}"]`);

  // The agents page follows too: past the heartbeat timeout, both go offline.
  await page.goto(`${server.url}/#/agents`);
  await page.waitForSelector(`[data-agent-id="${first.agentId}"][data-status=ONLINE]`);
  await server.advanceClock(HEARTBEAT_TIMEOUT_MS + 1_000);
  await page.waitForSelector(`[data-agent-id="${first.agentId}"][data-status=OFFLINE]`);
  await page.waitForSelector(`[data-agent-id="${second.agentId}"][data-status=OFFLINE]`);
  assert.deepEqual(navigations.filter((url) => !url.includes('#')), [], 'no reload');
  assert.deepEqual(page.consoleErrors, []);
});

test('the agents list filters by status, labels and search through the API', async () => {
  const web = await registerAgent(server, 'filter-web', {type: 'web', version: '2.0.0', labels: {env: 'staging', role: 'web'}});
  await heartbeat(server, web);
  const page = await newPage();
  await signInWithKey(page, server, server.adminKey, '#/agents');
  await page.waitForSelector(`[data-agent-id="${web.agentId}"]`);

  await page.selectOption('#agent-filters select[name=status]', 'ONLINE');
  await page.click('#agent-filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('status=ONLINE'));
  await page.waitForSelector('#agent-list [data-agent-id]');
  const online = await page.$$eval('#agent-list [data-agent-id]', (rows) => rows.map((row) => row.dataset.status));
  assert.ok(online.length >= 1 && online.every((status) => status === 'ONLINE'), JSON.stringify(online));

  await page.goto(`${server.url}/#/agents?label=env%3Dstaging`);
  await page.waitForFunction(() => document.querySelector('#agent-total')?.textContent === '1 agents match');
  assert.ok(await page.$(`[data-agent-id="${web.agentId}"]`));

  await page.goto(`${server.url}/#/agents?q=nobody-has-this`);
  await page.waitForFunction(() => document.querySelector('#agent-total')?.textContent === '0 agents match');
  assert.deepEqual(page.consoleErrors, []);
});

test('the agent detail shows its health, desired against effective config with the diff, and its events', async () => {
  const agent = await registerAgent(server, 'drifting-1', {type: 'collector', version: '1.0.0'});
  await heartbeat(server, agent, {metrics: {cpu: 0.25}});
  await server.createConfig('drift', {'collector.yaml': {content_type: 'text/yaml', body: 'receivers: [otlp]\nlevel: info\n'}});
  await server.assignToAgent(agent.agentId, 'drift');
  await server.call('PUT', `/api/v1/agents/${agent.agentId}/config/effective`,
    {files: {'collector.yaml': {content_type: 'text/yaml', body: 'receivers: [otlp]\nlevel: debug\n'}}}, [200], {token: agent.token});

  const page = await newPage();
  await signInWithKey(page, server, server.adminKey, `#/agents/${agent.agentId}`);
  await page.waitForSelector('#config-diff');
  const diff = await textOf(page, '#config-diff');
  assert.match(diff, /- level: debug/, 'what the agent runs');
  assert.match(diff, /\+ level: info/, 'what muster wants');
  const status = (await server.agentConfig(agent.agentId)).config_status;
  assert.equal(await page.getAttribute('#config-status .pill', 'data-value'), status);
  assert.match(await textOf(page, '#agent-health'), /Score/);
  assert.match(await textOf(page, '#agent-events'), /AgentRegistered/);
  assert.ok(await page.$('#agent-metrics svg.chart'), 'a chart of its cpu');
  assert.deepEqual(page.consoleErrors, []);
});

test('a viewer key sees no write buttons where an admin key does', async () => {
  const agent = await registerAgent(server, 'roles-1', {labels: {tier: 'roles'}});
  await heartbeat(server, agent);
  await server.call('POST', '/api/v1/rollouts', {
    name: 'roles rollout', target: {selector: {tier: 'roles'}},
    change: {settings: {log_level: 'debug'}}, stages: [{count: 1, bake_time: '1h'}, {percent: 100, bake_time: '1h'}],
  });
  const viewerKey = await issueKey(server, 'viewer');
  const viewer = await newPage();
  await signInWithKey(viewer, server, viewerKey, `#/agents/${agent.agentId}`);
  await viewer.waitForSelector('#agent-identity');
  assert.equal(await viewer.$('#agent-actions'), null);
  await viewer.goto(`${server.url}/#/rollouts`);
  await viewer.waitForSelector('[data-rollout-id]');
  assert.equal(await viewer.$('[data-page=rollouts] button'), null);
  await viewer.goto(`${server.url}/#/agents`);
  await viewer.waitForSelector('#agent-list [data-agent-id]');
  assert.equal(await viewer.$('#agent-list input[type=checkbox]'), null);

  const admin = await newPage();
  await signInWithKey(admin, server, server.adminKey, `#/agents/${agent.agentId}`);
  await admin.waitForSelector('#agent-actions [data-action=restart]');
  await admin.goto(`${server.url}/#/rollouts`);
  await admin.waitForSelector('[data-page=rollouts] [data-action=pause]');
  assert.deepEqual([...viewer.consoleErrors, ...admin.consoleErrors], []);
});

test('an operator pauses a rollout and acknowledges a firing alert from the page', async () => {
  // Of every organization: the stream shows a key of one organization its
  // agents' events only, not its alerts' or rollouts'.
  const operatorKey = await issueKey(server, 'operator', '*');
  const agent = await registerAgent(server, 'steer-1', {labels: {tier: 'steer'}});
  await heartbeat(server, agent);
  const rollout = await server.call('POST', '/api/v1/rollouts', {
    name: 'steer rollout', target: {selector: {tier: 'steer'}},
    change: {settings: {log_level: 'warn'}}, stages: [{count: 1, bake_time: '1h'}, {percent: 100, bake_time: '1h'}],
  });
  const page = await newPage();
  await signInWithKey(page, server, operatorKey, `#/rollouts/${rollout.rollout_id}`);
  await page.waitForSelector('#rollout-actions [data-action=pause]');
  await page.click('#rollout-actions [data-action=pause]');
  await page.waitForSelector('#rollout-state [data-value=paused]');
  assert.equal((await server.call('GET', `/api/v1/rollouts/${rollout.rollout_id}`)).state, 'paused');
  await page.waitForSelector('#rollout-actions [data-action=resume]');

  // An absence rule fires once the agent is offline for a minute.
  const rule = await server.call('POST', '/api/v1/alert-rules', {name: 'steer gone', kind: 'absence', for: '1m', scope: {agents: [agent.agentId]}});
  await page.goto(`${server.url}/#/alerts`);
  await page.waitForSelector('[data-page=alerts] h1');
  await server.advanceClock(HEARTBEAT_TIMEOUT_MS + 1_000);
  const fired = await eventually(async () => {
    await server.advanceClock(10_000);
    const firing = await server.call('GET', `/api/v1/alerts?state=firing&rule=${rule.rule_id}`);
    return firing.alerts[0];
  }, {what: 'the absence alert to fire'});
  await page.waitForSelector(`#firing-alerts [data-alert-id="${fired.alert_id}"] [data-action=ack]`);
  await page.click(`#firing-alerts [data-alert-id="${fired.alert_id}"] [data-action=ack]`);
  await eventually(async () => (await server.call('GET', `/api/v1/alerts/${fired.alert_id}`)).acknowledged_at, {what: 'the ack'});
  await page.waitForFunction((id) => !document.querySelector(`#firing-alerts [data-alert-id="${id}"] [data-action=ack]`), fired.alert_id);
  assert.deepEqual(page.consoleErrors, []);
});

test('a user signs in with a password, stays signed in across a reload, writes with the CSRF token, and signs out', async () => {
  await server.call('POST', '/api/v1/users', {username: 'olga', password: 'correct horse battery', role: 'operator', org: '*'});
  const agent = await registerAgent(server, 'user-1', {labels: {tier: 'user'}});
  await heartbeat(server, agent);
  const rollout = await server.call('POST', '/api/v1/rollouts', {
    name: 'user rollout', target: {selector: {tier: 'user'}},
    change: {settings: {log_level: 'info'}}, stages: [{count: 1, bake_time: '1h'}, {percent: 100, bake_time: '1h'}],
  });
  const page = await newPage();
  await page.goto(`${server.url}/#/rollouts/${rollout.rollout_id}`);
  await page.fill('#user-signin input[name=username]', 'olga');
  await page.fill('#user-signin input[name=password]', 'wrong password');
  await page.click('#user-signin button[type=submit]');
  await page.waitForSelector('.signin [role=alert]');
  assert.equal(await page.isHidden('#nav'), true);

  await page.fill('#user-signin input[name=password]', 'correct horse battery');
  await page.click('#user-signin button[type=submit]');
  await page.waitForSelector('#rollout-actions [data-action=pause]');
  assert.match(await textOf(page, '#who'), /olga.*operator/);
  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === 'muster_session');
  assert.ok(session?.httpOnly, 'an HttpOnly session cookie');
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'no key kept');

  await page.reload();
  await page.waitForSelector('#rollout-actions [data-action=pause]');
  await page.click('#rollout-actions [data-action=pause]');
  await page.waitForSelector('#rollout-state [data-value=paused]');
  const paused = await server.call('GET', `/api/v1/rollouts/${rollout.rollout_id}`);
  assert.equal(paused.state, 'paused');
  assert.ok(paused.events.some((event) => JSON.stringify(event).includes('user:olga')), `the write is the user's: ${JSON.stringify(paused.events)}`);

  await page.click('#sign-out');
  await page.waitForSelector('#user-signin');
  await page.reload();
  await page.waitForSelector('#user-signin');
  assert.equal(await page.isHidden('#nav'), true);
  const bad = page.consoleErrors.filter((error) => !/401/.test(error));
  assert.deepEqual(bad, []);
});

test('a config\'s versions, the diff between two of them, and a rollback from the page', async () => {
  await server.createConfig('web', {'web.yaml': {content_type: 'text/yaml', body: 'port: 80\nworkers: 2\n'}});
  await server.updateConfig('web', {'web.yaml': {content_type: 'text/yaml', body: 'port: 8080\nworkers: 2\n'}});
  const page = await newPage();
  await signInWithKey(page, server, server.adminKey, '#/configs');
  await page.click('a[href="#/configs/web"]');
  await page.waitForSelector('#version-diff');
  const diff = await textOf(page, '#version-diff');
  assert.match(diff, /-port: 80\n?/);
  assert.match(diff, /\+port: 8080/);

  await page.click('[data-action=rollback]');
  await page.waitForFunction(() => document.querySelector('[data-page=configs] h2')?.nextElementSibling?.textContent.includes('v3'));
  const {versions} = await server.call('GET', '/api/v1/configs/web/versions');
  assert.equal(versions.length, 3);
  assert.equal(versions[2].hash, versions[0].hash, 'v3 is v1 again');
  assert.deepEqual(page.consoleErrors, []);
});
