// Takes the README's screenshots of the dashboard (docs/screenshots/*.png):
// a real muster with a small made-up fleet, each page in headless chromium.
//
// Run from the repository: MUSTER_BIN=build/muster node tests/e2e/dashboard/screenshots.mjs
// (after `npm ci` in tests/e2e/dashboard and tests/e2e/opamp).

import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {Muster} from '../opamp/muster.mjs';
import {heartbeat, launchBrowser, openPage, registerAgent, signInWithKey} from './browser.mjs';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');

const server = await Muster.start();
const browser = await launchBrowser();
try {
  // Signed in on the overview from the start, so its chart follows the fleet.
  const page = await openPage(browser, server);
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#key-signin');
  await page.screenshot({path: path.join(OUT, 'sign-in.png')});
  await signInWithKey(page, server, server.adminKey);
  await page.waitForSelector('[data-count=total]');
  const fleet = [];
  const kinds = [['collector', '1.4.2', 'prod'], ['collector', '1.4.1', 'prod'], ['gateway', '2.0.0', 'staging']];
  for (let index = 0; index < 9; index++) {
    const [type, version, env] = kinds[index % kinds.length];
    fleet.push(await registerAgent(server, `host-${index + 1}`, {type, version, hostname: `web-${index + 1}.example.com`,
      labels: {env, region: index % 2 ? 'eu-west-1' : 'us-east-1'}}));
  }
  // Ten minutes of heartbeats with metrics; the last three agents fall silent half way.
  for (let minute = 0; minute < 10; minute++) {
    for (const [index, agent] of fleet.entries()) {
      if (index >= 6 && minute >= 5) continue;
      await heartbeat(server, agent, {metrics: {cpu: 0.2 + 0.5 * Math.abs(Math.sin((minute + index) / 3)), mem: 300 + 20 * minute}});
    }
    await server.advanceClock(60_000);
    await new Promise((resolve) => setTimeout(resolve, 400));  // One chart sample per minute of the fleet.
  }
  await server.createConfig('collector', {'collector.yaml': {content_type: 'text/yaml', body: 'receivers: [otlp]\nexporters: [debug]\n'}});
  await server.updateConfig('collector', {'collector.yaml': {content_type: 'text/yaml', body: 'receivers: [otlp, prometheus]\nexporters: [otlphttp]\n'}});
  await server.createGroup('prod', {env: 'prod'});
  await server.assignToGroup('prod', 'collector');
  const drifted = fleet[0];
  await server.call('PUT', `/api/v1/agents/${drifted.agentId}/config/effective`,
    {files: {'collector.yaml': {content_type: 'text/yaml', body: 'receivers: [otlp]\nexporters: [otlphttp]\n'}}}, [200], {token: drifted.token});
  await server.call('POST', '/api/v1/rollouts', {name: 'staging log level', target: {selector: {env: 'staging'}},
    change: {settings: {log_level: 'debug'}}, stages: [{count: 1, bake_time: '1h'}, {percent: 100, bake_time: '1h'}]});
  await server.call('POST', '/api/v1/alert-rules', {name: 'agent gone', kind: 'absence', for: '1m', severity: 'critical'});
  await server.advanceClock(30_000);

  const shoot = async (hash, ready, name) => {
    await page.goto(`${server.url}/${hash}`);
    await page.waitForSelector(ready);
    await page.screenshot({path: path.join(OUT, `${name}.png`), fullPage: true});
    console.log(`docs/screenshots/${name}.png`);
  };
  await new Promise((resolve) => setTimeout(resolve, 400));
  await page.screenshot({path: path.join(OUT, 'overview.png'), fullPage: true});
  await shoot('#/agents', '#agent-list [data-agent-id]', 'agents');
  await shoot(`#/agents/${drifted.agentId}`, '#agent-metrics svg', 'agent');
  await shoot('#/configs/collector', '#version-diff', 'configs');
  await shoot('#/rollouts', '[data-rollout-id]', 'rollouts');
  await shoot('#/alerts', '[data-page=alerts] h1', 'alerts');
  if (page.consoleErrors.length || page.outsideRequests.length) {
    throw new Error(`console errors ${page.consoleErrors}, outside requests ${page.outsideRequests}`);
  }
} finally {
  await browser.close();
  await server.close();
}
