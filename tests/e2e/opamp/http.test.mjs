// A real OpAMP agent library, npm's @elastic/opamp-client-node, against the
// real muster over the HTTP transport: it registers through an enrollment
// token, heartbeats, takes remote configs and reports on them, goes offline
// on the heartbeat timeout and rides through a restart of muster.

import assert from 'node:assert/strict';
import {afterEach, test} from 'node:test';

import {
  asksFullState,
  ElasticAgent,
  filesOf,
  hex,
  MUSTER_SERVER_CAPABILITIES,
  sameBytes,
} from './clients.mjs';
import {elastic, eventually, Muster} from './muster.mjs';

const {RemoteConfigStatuses} = elastic;
const HEARTBEAT_TIMEOUT_MS = 120_000; // muster's default --heartbeat-timeout
// How long the restart scenario holds the client's next heartbeat back: muster
// restarts in well under a second here (the test prints how long it took).
const HOLD_SECONDS = 3;

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function startServer(options) {
  const server = await Muster.start(options);
  cleanups.push(() => server.close());
  return server;
}

function startAgent(options) {
  const agent = new ElasticAgent(options).start();
  cleanups.push(() => agent.shutdown());
  return agent;
}

const FILES_V1 = {
  'collector.yaml': {content_type: 'application/yaml', body: 'receivers: [otlp]\nexporters: [debug]\n'},
  'pipelines/extra.json': {content_type: 'application/json', body: '{"batch": {"timeout": "5s"}}'},
};
const FILES_V2 = {
  'collector.yaml': {content_type: 'application/yaml', body: 'receivers: [otlp, prometheus]\nexporters: [debug]\n'},
};

test('the elastic client registers through an enrollment token as the contract names it, and heartbeats keep it ONLINE', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken({labels: {env: 'e2e', team: 'edge'}});
  const agent = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'checkout', 'service.version': '1.4.2'},
    nonIdentifying: {'host.name': 'web-7.example.com', 'os.type': 'linux', 'host.arch': 'amd64', 'muster.e2e.ok': true},
  });

  // No service.instance.id: the instance_id is the uid as a lowercase UUID.
  const listed = await server.waitForAgent(agent.instanceUidString);
  assert.equal(listed.status, 'ONLINE');

  const shown = await server.agent(listed.agent_id);
  assert.equal(shown.instance_id, agent.instanceUidString);
  assert.equal(shown.type, 'checkout');
  assert.equal(shown.version, '1.4.2');
  assert.equal(shown.hostname, 'web-7.example.com');
  assert.equal(shown.labels.env, 'e2e', 'the enrollment token labels it');
  assert.equal(shown.labels.team, 'edge');
  assert.equal(shown.labels['opamp/os.type'], 'linux');
  assert.equal(shown.labels['opamp/host.arch'], 'amd64');
  assert.ok('opamp/muster.e2e.ok' in shown.labels, 'a bool attribute becomes a label too');
  assert.ok(!('opamp/host.name' in shown.labels), 'host.name is the hostname, not a label');
  assert.equal(shown.opamp?.transport, 'http');
  for (const capability of ['ReportsStatus', 'AcceptsRemoteConfig', 'ReportsRemoteConfig', 'ReportsHeartbeat']) {
    assert.ok(shown.opamp.capabilities.includes(capability), `capabilities list ${capability}: ${shown.opamp.capabilities}`);
  }

  // Every answer echoes the uid and muster's capabilities; the first offers a
  // heartbeat interval (the client reports heartbeats).
  await agent.exchangesAfter(0, 3);
  const first = agent.exchanges[0].s2a;
  assert.ok(first.connectionSettings?.opamp?.heartbeatIntervalSeconds > 0n, 'heartbeat_interval_seconds offered');
  for (const {s2a} of agent.exchanges) {
    assert.ok(sameBytes(s2a.instanceUid, agent.instanceUid), 'instance_uid echoed');
    assert.equal(s2a.capabilities, MUSTER_SERVER_CAPABILITIES);
    assert.equal(s2a.errorResponse, undefined);
  }
  assert.equal(agent.failures.length, 0, JSON.stringify(agent.failures));

  // 100 s of server time, then a heartbeat, then 100 s more: 200 s since it
  // registered, but never 120 s without a heartbeat, so it stays ONLINE.
  await server.advanceClock(100_000);
  await agent.exchangesAfter(agent.exchanges.length, 2);
  await server.advanceClock(100_000);
  await agent.exchangesAfter(agent.exchanges.length, 2);
  assert.equal((await server.agent(listed.agent_id)).status, 'ONLINE');

  // The sequence numbers have no gaps: the server never asked for full state again.
  const asked = agent.exchanges.slice(1).filter(({s2a}) => asksFullState(s2a));
  assert.equal(asked.length, 0, 'ReportFullState in steady state');
  assert.equal(agent.failures.length, 0, JSON.stringify(agent.failures));
});

test('the operator finds an agent registered over OpAMP with GET /api/v1/agents?q=<instance_id>', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const withInstanceId = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'finder', 'service.instance.id': 'finder-7'},
    nonIdentifying: {'host.name': 'elsewhere.example.com'},
  });
  const withUidOnly = startAgent({endpoint: server.opampUrl, token, identifying: {'service.name': 'finder'}});
  for (const instanceId of ['finder-7', withUidOnly.instanceUidString]) {
    const listed = await server.waitForAgent(instanceId);
    const found = await server.call('GET', `/api/v1/agents?q=${encodeURIComponent(instanceId)}`);
    assert.deepEqual(
      found.agents.map((entry) => entry.agent_id),
      [listed.agent_id],
      `GET /api/v1/agents?q=${instanceId} finds it`
    );
  }
  assert.equal(withInstanceId.failures.length, 0);
});

test("a config assigned to the agent's group arrives through onMessage; APPLIED, then a second version FAILED, show in its config status", async () => {
  const server = await startServer();
  const token = await server.enrollmentToken({labels: {env: 'e2e-config'}});
  const seen = new Set();
  let nextReport = {status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED};
  const agent = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'collector', 'service.instance.id': 'collector-http-1'},
    nonIdentifying: {'host.name': 'edge-1'},
    onRemoteConfig(remoteConfig, self) {
      // onMessage comes with every answer that carries a config; act once per hash.
      const key = hex(remoteConfig.configHash);
      if (seen.has(key)) return;
      seen.add(key);
      self.report(nextReport.status, remoteConfig.configHash, nextReport.error);
    },
  });
  const {agent_id: agentId} = await server.waitForAgent('collector-http-1');
  assert.equal((await server.agentConfig(agentId)).config_status, 'none');

  const created = await server.createConfig('collector', FILES_V1);
  await server.createGroup('edge', {env: 'e2e-config'});
  await server.assignToGroup('edge', 'collector');

  const desired = await eventually(
    async () => {
      const view = await server.agentConfig(agentId);
      return view.desired?.config_hash ? view.desired : null;
    },
    {what: 'the desired config of the agent'}
  );
  assert.equal(desired.config.name, 'collector');
  assert.equal(desired.config.version, created.version);

  const v1 = await eventually(() => agent.remoteConfigs[0], {what: 'a remote config through onMessage'});
  assert.deepEqual(filesOf(v1.config), FILES_V1);
  assert.equal(v1.configHash.length, 32);
  assert.equal(hex(v1.configHash), desired.config_hash, "config_hash is the API's config_hash");

  const applied = await eventually(
    async () => {
      const view = await server.agentConfig(agentId);
      return view.config_status === 'applied' ? view : null;
    },
    {what: 'config_status applied'}
  );
  assert.equal(applied.reported.config_hash, desired.config_hash);
  assert.equal(applied.reported.status, 'applied');

  // Once APPLIED is reported with the desired hash, muster stops sending it.
  const after = agent.exchanges.length;
  await agent.exchangesAfter(after, 3);
  const resent = agent.exchanges.slice(after + 1).filter(({s2a}) => s2a.remoteConfig);
  assert.equal(resent.length, 0, 'the applied config is not sent again');

  // A second version: the agent fails to apply it and says why.
  nextReport = {status: RemoteConfigStatuses.RemoteConfigStatuses_FAILED, error: 'receiver prometheus: no scrape targets'};
  await server.updateConfig('collector', FILES_V2);
  const v2 = await eventually(
    () => agent.remoteConfigs.find((config) => !sameBytes(config.configHash, v1.configHash)),
    {what: 'the second version through onMessage'}
  );
  assert.deepEqual(filesOf(v2.config), FILES_V2);
  const failed = await eventually(
    async () => {
      const view = await server.agentConfig(agentId);
      return view.config_status === 'failed' ? view : null;
    },
    {what: 'config_status failed'}
  );
  assert.equal(failed.reported.config_hash, hex(v2.configHash));
  assert.equal(failed.desired.config_hash, hex(v2.configHash));
  assert.equal(failed.reported.error, 'receiver prometheus: no scrape targets');
  const counts = await server.call('GET', '/api/v1/configs/collector/status');
  assert.equal(counts.counts.failed, 1);
  assert.equal(agent.failures.length, 0, JSON.stringify(agent.failures));
});

test('a config assigned to the agent directly arrives too', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const agent = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'collector', 'service.instance.id': 'collector-direct-1'},
    onRemoteConfig(remoteConfig, self) {
      self.report(RemoteConfigStatuses.RemoteConfigStatuses_APPLIED, remoteConfig.configHash);
    },
  });
  const {agent_id: agentId} = await server.waitForAgent('collector-direct-1');
  await server.createConfig('solo', FILES_V2);
  await server.assignToAgent(agentId, 'solo');
  const received = await eventually(() => agent.remoteConfigs[0], {what: 'a remote config through onMessage'});
  assert.deepEqual(filesOf(received.config), FILES_V2);
  const view = await eventually(
    async () => {
      const config = await server.agentConfig(agentId);
      return config.config_status === 'applied' ? config : null;
    },
    {what: 'config_status applied'}
  );
  assert.equal(view.desired.config_hash, hex(received.configHash));
  assert.equal(view.desired.config.source, 'agent');
});

test('a client shut down goes OFFLINE when the heartbeat timeout passes, not before', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const agent = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'short-lived', 'service.instance.id': 'short-lived-1'},
  });
  const {agent_id: agentId} = await server.waitForAgent('short-lived-1');
  await agent.exchangesAfter(0, 2);
  await agent.shutdown(); // the elastic client sends no AgentDisconnect

  await server.advanceClock(HEARTBEAT_TIMEOUT_MS - 10_000);
  assert.equal((await server.agent(agentId)).status, 'ONLINE');
  await server.advanceClock(20_000);
  await eventually(async () => (await server.agent(agentId)).status === 'OFFLINE', {what: 'status OFFLINE'});
});

test('muster restarted on the same data dir while the client runs: the same agent carries on, full state asked once', async (t) => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const agent = startAgent({
    endpoint: server.opampUrl,
    token,
    identifying: {'service.name': 'survivor', 'service.version': '2.0.0', 'service.instance.id': 'survivor-1'},
    nonIdentifying: {'host.name': 'survivor.example.com'},
  });
  const {agent_id: agentId} = await server.waitForAgent('survivor-1');
  await agent.exchangesAfter(0, 4);
  const askedBefore = agent.exchanges.filter(({s2a}) => asksFullState(s2a)).length;
  assert.ok(askedBefore <= 1, `ReportFullState ${askedBefore} times before the restart`);

  // Hold the client's next heartbeat back for a few seconds, so muster is
  // down between two of its requests (a refused request would make it back
  // off 30 s: the test would still pass, only slower).
  await new Promise((resolve) => {
    agent.afterExchange = () => {
      agent.afterExchange = null;
      agent.client.setHeartbeatIntervalSeconds(HOLD_SECONDS);
      resolve();
    };
  });
  const beforeRestart = agent.exchanges.length;
  const restartStarted = Date.now();
  await server.restart();
  const restartMs = Date.now() - restartStarted;
  t.diagnostic(`muster restarted in ${restartMs} ms`);
  // Until the agent speaks again, muster holds no OpAMP state for it.
  const unheard = await server.agent(agentId);
  if (agent.exchanges.length === beforeRestart) {
    assert.equal(unheard.opamp ?? null, null, 'no opamp block before the agent is heard again');
  }
  assert.equal(unheard.status, 'ONLINE', 'recovered from the log');
  agent.client.resetHeartbeatIntervalSeconds();

  await agent.exchangesAfter(beforeRestart, 6, 45_000);
  const afterRestart = agent.exchanges.slice(beforeRestart);
  const asked = afterRestart.filter(({s2a}) => asksFullState(s2a)).length;
  assert.ok(asked >= 1 && asked <= 2, `ReportFullState ${asked} times after the restart (restart took ${restartMs} ms)`);
  // The last answers (after the full state went) ask for nothing.
  assert.ok(afterRestart.slice(-2).every(({s2a}) => !asksFullState(s2a)), 'no ReportFullState once the full state came');
  assert.ok(
    afterRestart.some(({a2s}) => a2s.agentDescription),
    'the client sent its full state (description) after the restart'
  );
  for (const {s2a} of afterRestart) assert.ok(sameBytes(s2a.instanceUid, agent.instanceUid));

  const again = await server.waitForAgent('survivor-1');
  assert.equal(again.agent_id, agentId, 'the same agent_id');
  const shown = await server.agent(agentId);
  assert.equal(shown.status, 'ONLINE');
  assert.equal(shown.opamp?.transport, 'http', 'heard over OpAMP since the restart');
  const registered = (await server.agentEvents(agentId)).filter((event) => event.type === 'AgentRegistered');
  assert.equal(registered.length, 1, 'registered once, not again after the restart');
  const total = await server.call('GET', '/api/v1/events?type=AgentRegistered&limit=1000');
  assert.equal(total.events.length, 1, 'one AgentRegistered in the whole log');
});
