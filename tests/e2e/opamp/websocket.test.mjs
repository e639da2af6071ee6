// The WebSocket transport of /v1/opamp with an agent written on npm's `ws`
// and the elastic package's generated schemas: pushes (a config on
// assignment, a restart command), health, disconnects, size limits,
// credentials and instance uids.

import assert from 'node:assert/strict';
import {afterEach, test} from 'node:test';

import {asksFullState, Cap, filesOf, hex, MUSTER_SERVER_CAPABILITIES, sameBytes, WsAgent} from './clients.mjs';
import {eventually, Muster, opamp, uuidString} from './muster.mjs';

const MAX_MESSAGE_BYTES = 64 * 1024;
const HEARTBEAT_TIMEOUT_MS = 120_000;
const {RemoteConfigStatuses, ServerErrorResponseType, CommandType} = opamp;

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function startServer() {
  const server = await Muster.start({args: ['--opamp-max-message-bytes', String(MAX_MESSAGE_BYTES)]});
  cleanups.push(() => server.close());
  return server;
}

async function connect(server, options) {
  const agent = await WsAgent.connect(server.opampWsUrl, options);
  cleanups.push(() => agent.terminate());
  return agent;
}

/// Connects with the enrollment token, sends the full state of a new agent
/// named `name` and waits until muster lists it; answers {agent, agentId, first}.
async function register(server, token, name, {capabilities, instanceUid} = {}) {
  const agent = await connect(server, {token, capabilities, instanceUid});
  const first = await agent.exchange(
    agent.fullState({'service.name': name, 'service.instance.id': `${name}-1`}, {'host.name': `${name}.example.com`})
  );
  const listed = await server.waitForAgent(`${name}-1`);
  return {agent, agentId: listed.agent_id, first};
}

async function statusOf(server, agentId) {
  return (await server.agent(agentId)).status;
}

const FILES = {
  'collector.yaml': {content_type: 'application/yaml', body: 'receivers: [otlp]\nprocessors: [batch]\n'},
};

test('a config assigned while the agent is connected is pushed to it at once; its reports become the config status', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, agentId, first} = await register(server, token, 'ws-config', {
    capabilities:
      Cap.ReportsStatus |
      Cap.AcceptsRemoteConfig |
      Cap.ReportsRemoteConfig |
      Cap.ReportsEffectiveConfig |
      Cap.AcceptsRestartCommand |
      Cap.ReportsHealth |
      Cap.ReportsHeartbeat,
  });
  assert.ok(sameBytes(first.instanceUid, agent.instanceUid));
  assert.equal(first.capabilities, MUSTER_SERVER_CAPABILITIES);
  assert.ok(first.connectionSettings?.opamp?.heartbeatIntervalSeconds > 0n, 'heartbeat_interval_seconds offered');
  const shown = await server.agent(agentId);
  assert.equal(shown.opamp?.transport, 'websocket');
  assert.equal(shown.opamp.connected, true);
  assert.ok(shown.opamp.capabilities.includes('AcceptsRestartCommand'), `${shown.opamp.capabilities}`);

  const receivedBefore = agent.received.length;
  const sentBefore = agent.sent;
  await server.createConfig('edge', FILES);
  await server.assignToAgent(agentId, 'edge');
  const pushed = await agent.nextAfter(receivedBefore, (s2a) => s2a.remoteConfig, 10_000, 'a pushed remote config');
  assert.equal(agent.sent, sentBefore, 'pushed without the agent sending anything');
  assert.ok(sameBytes(pushed.instanceUid, agent.instanceUid));
  assert.deepEqual(filesOf(pushed.remoteConfig.config), FILES);
  assert.equal(pushed.remoteConfig.configHash.length, 32);
  const desired = (await server.agentConfig(agentId)).desired;
  assert.equal(hex(pushed.remoteConfig.configHash), desired.config_hash);

  const applied = await agent.exchange({
    remoteConfigStatus: {
      lastRemoteConfigHash: pushed.remoteConfig.configHash,
      status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
    },
    effectiveConfig: {configMap: pushed.remoteConfig.config},
  });
  assert.equal(applied.remoteConfig, undefined, 'no config once the agent has it');
  const view = await eventually(
    async () => {
      const config = await server.agentConfig(agentId);
      return config.config_status === 'applied' && config.effective ? config : null;
    },
    {what: 'config_status applied with the effective config'}
  );
  assert.equal(view.reported.config_hash, desired.config_hash);
  assert.deepEqual(view.effective.files, FILES);
  assert.equal(view.effective.files_hash, desired.files_hash);
  assert.deepEqual(agent.badFrames, [], 'every message starts with the 0x00 header');
});

test('a restart command is pushed to a connected agent, and succeeds when the agent comes back on a new connection', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, agentId} = await register(server, token, 'ws-restart');

  const receivedBefore = agent.received.length;
  const queued = await server.call('POST', `/api/v1/agents/${agentId}/commands`, {type: 'restart'});
  const pushed = await agent.nextAfter(receivedBefore, (s2a) => s2a.command, 10_000, 'a pushed command');
  assert.equal(pushed.command.type, CommandType.CommandType_Restart);
  assert.ok(sameBytes(pushed.instanceUid, agent.instanceUid));
  const delivered = await eventually(
    async () => {
      const command = await server.call('GET', `/api/v1/commands/${queued.command_id}`);
      return ['delivered', 'acknowledged'].includes(command.state) ? command : null;
    },
    {what: 'the command delivered'}
  );
  assert.ok(delivered.delivered_at);

  // The agent restarts: the socket goes, a new one comes with sequence 1.
  await agent.close();
  const again = await connect(server, {token, instanceUid: agent.instanceUid});
  const answer = await again.exchange(
    again.fullState({'service.name': 'ws-restart', 'service.instance.id': 'ws-restart-1'}, {'host.name': 'ws-restart.example.com'})
  );
  assert.equal(answer.command, undefined, 'the restart is not sent again');
  const finished = await eventually(
    async () => {
      const command = await server.call('GET', `/api/v1/commands/${queued.command_id}`);
      return command.state === 'succeeded' ? command : null;
    },
    {what: 'the command succeeded'}
  );
  assert.ok(finished.finished_at);
  assert.equal((await server.waitForAgent('ws-restart-1')).agent_id, agentId);
});

test('health unhealthy makes the agent DEGRADED with its last_error; healthy again makes it ONLINE', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, agentId} = await register(server, token, 'ws-health');
  const startTime = BigInt(Date.now()) * 1_000_000n;

  await agent.exchange({
    health: {
      healthy: false,
      lastError: 'exporter otlp: connection refused',
      status: 'StatusRecoverableError',
      startTimeUnixNano: startTime,
      componentHealthMap: {
        'exporter/otlp': {healthy: false, lastError: 'connection refused', status: 'StatusRecoverableError'},
        'receiver/otlp': {healthy: true, status: 'StatusOK'},
      },
    },
  });
  const degraded = await eventually(
    async () => {
      const shown = await server.agent(agentId);
      return shown.status === 'DEGRADED' ? shown : null;
    },
    {what: 'status DEGRADED'}
  );
  assert.equal(degraded.opamp.health.healthy, false);
  assert.equal(degraded.opamp.health.last_error, 'exporter otlp: connection refused');
  assert.equal(degraded.opamp.health.status, 'StatusRecoverableError');
  assert.deepEqual(Object.keys(degraded.opamp.health.components).sort(), ['exporter/otlp', 'receiver/otlp']);
  assert.equal(degraded.opamp.health.components['exporter/otlp'].last_error, 'connection refused');
  assert.equal(degraded.opamp.sequence_num, Number(agent.sequenceNum));

  await agent.exchange({health: {healthy: true, status: 'StatusOK', startTimeUnixNano: startTime}});
  const healthy = await eventually(
    async () => {
      const shown = await server.agent(agentId);
      return shown.status === 'ONLINE' ? shown : null;
    },
    {what: 'status ONLINE again'}
  );
  assert.equal(healthy.opamp.health.healthy, true);
});

test('agent_disconnect is OFFLINE at once; a socket closed without it changes only opamp.connected until the timeout', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const leaving = await register(server, token, 'ws-leaving');
  const dropped = await register(server, token, 'ws-dropped');

  leaving.agent.send({agentDisconnect: {}});
  const offline = await eventually(
    async () => {
      const shown = await server.agent(leaving.agentId);
      return shown.status === 'OFFLINE' ? shown : null;
    },
    {what: 'OFFLINE after agent_disconnect'}
  );
  assert.equal(offline.status_reason, 'agent disconnect');

  await dropped.agent.terminate();
  const closed = await eventually(
    async () => {
      const shown = await server.agent(dropped.agentId);
      return shown.opamp?.connected === false ? shown : null;
    },
    {what: 'opamp.connected false'}
  );
  assert.equal(closed.status, 'ONLINE', 'a closed socket alone is not OFFLINE');
  await server.advanceClock(HEARTBEAT_TIMEOUT_MS - 10_000);
  assert.equal(await statusOf(server, dropped.agentId), 'ONLINE');
  await server.advanceClock(20_000);
  await eventually(async () => (await statusOf(server, dropped.agentId)) === 'OFFLINE', {
    what: 'OFFLINE on the heartbeat timeout',
  });
});

test('a message over --opamp-max-message-bytes closes the connection with 1009', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent} = await register(server, token, 'ws-big');
  agent.sendRaw(Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 0x41));
  const closed = await eventually(() => agent.closed, {what: 'the connection closed'});
  assert.equal(closed.code, 1009);
});

test('malformed protobuf is answered with error_response BadRequest and the connection stays open', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent} = await register(server, token, 'ws-garbage');
  const before = agent.received.length;
  agent.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  const error = await agent.nextAfter(before, () => true, 10_000, 'an answer to garbage');
  assert.equal(error.errorResponse?.type, ServerErrorResponseType.ServerErrorResponseType_BadRequest);
  const answer = await agent.exchange({});
  assert.equal(answer.errorResponse, undefined);
  assert.ok(sameBytes(answer.instanceUid, agent.instanceUid));
  assert.equal(agent.closed, null);
});

test('an upgrade without a credential, or with a wrong one, is refused with 401', async () => {
  const server = await startServer();
  for (const authorization of [undefined, 'Bearer me_0000000000000000_wrong', `Bearer ${server.adminKey}`]) {
    await assert.rejects(
      WsAgent.connect(server.opampWsUrl, {authorization}),
      (error) => error.statusCode === 401,
      `Authorization ${authorization}`
    );
  }
});

test('a new connection with a connected instance_uid takes the agent over; the old connection speaking again is given a new uid', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  // No service.instance.id: the instance_id is the uid, so a new uid is a new instance.
  const describe = (agent) => agent.fullState({'service.name': 'ws-twin'}, {'host.name': 'ws-twin.example.com'});
  const old = await connect(server, {token});
  await old.exchange(describe(old));
  const {agent_id: agentId} = await server.waitForAgent(old.uidString);

  // A reconnect (the old socket may be dead without muster knowing): the same agent.
  const taking = await connect(server, {token, instanceUid: old.instanceUid});
  const takenOver = await taking.exchange(describe(taking));
  assert.equal(takenOver.agentIdentification, undefined, 'no new uid for the new connection');
  assert.ok(sameBytes(takenOver.instanceUid, old.instanceUid));
  assert.equal((await server.waitForAgent(old.uidString)).agent_id, agentId);

  // The connection taken over speaks again: two live clients share the uid.
  const answer = await old.exchange({});
  const newUid = answer.agentIdentification?.newInstanceUid;
  assert.ok(newUid && newUid.length === 16, 'agent_identification.new_instance_uid');
  assert.ok(!sameBytes(newUid, old.instanceUid));
  assert.ok(asksFullState(answer), 'ReportFullState with the new uid');

  old.instanceUid = newUid;
  await old.exchange(describe(old));
  const copy = await server.waitForAgent(uuidString(newUid));
  assert.notEqual(copy.agent_id, agentId, 'the old connection is another agent now');
  // The connection that took over carries on as the original agent.
  const still = await taking.exchange({});
  assert.ok(sameBytes(still.instanceUid, taking.instanceUid));
  assert.equal(still.agentIdentification, undefined);
  assert.equal((await server.agent(agentId)).opamp.connected, true);
});

test('RequestInstanceUid gives a new UUIDv7 and the agent stays the same muster agent under it', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, agentId} = await register(server, token, 'ws-renamed');

  const answer = await agent.exchange({flags: BigInt(opamp.AgentToServerFlags.AgentToServerFlags_RequestInstanceUid)});
  const newUid = answer.agentIdentification?.newInstanceUid;
  assert.ok(newUid && newUid.length === 16, 'agent_identification.new_instance_uid');
  assert.ok(!sameBytes(newUid, agent.instanceUid));
  assert.equal(newUid[6] >> 4, 7, 'a UUIDv7');

  agent.instanceUid = newUid;
  const under = await agent.exchange({
    health: {healthy: false, lastError: 'renamed and broken', startTimeUnixNano: BigInt(Date.now()) * 1_000_000n},
  });
  assert.ok(sameBytes(under.instanceUid, newUid), 'answers echo the new uid');
  assert.equal(under.agentIdentification, undefined);
  await eventually(async () => (await statusOf(server, agentId)) === 'DEGRADED', {
    what: 'the same agent DEGRADED through its new uid',
  });
  const all = await server.call('GET', '/api/v1/agents?limit=1000');
  assert.equal(all.total, 1, 'no second agent');
});

test('another command type goes as a CustomMessage to an agent that declared its capability, and its result ends the command', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const capability = 'io.muster.command.upgrade';
  const agent = await connect(server, {token});
  await agent.exchange(
    agent.fullState(
      {'service.name': 'ws-custom', 'service.instance.id': 'ws-custom-1'},
      {},
      {customCapabilities: {capabilities: [capability]}}
    )
  );
  const {agent_id: agentId} = await server.waitForAgent('ws-custom-1');
  assert.deepEqual((await server.agent(agentId)).opamp.custom_capabilities, [capability]);

  const receivedBefore = agent.received.length;
  const queued = await server.call('POST', `/api/v1/agents/${agentId}/commands`, {
    type: 'upgrade',
    params: {version: '2.1.0'},
  });
  const pushed = await agent.nextAfter(receivedBefore, (s2a) => s2a.customMessage, 10_000, 'a pushed CustomMessage');
  assert.equal(pushed.customMessage.capability, capability);
  assert.equal(pushed.customMessage.type, 'upgrade');
  const data = JSON.parse(Buffer.from(pushed.customMessage.data).toString('utf8'));
  assert.equal(data.command_id, queued.command_id);
  assert.deepEqual(data.params, {version: '2.1.0'});
  await eventually(
    async () =>
      ['delivered', 'acknowledged'].includes((await server.call('GET', `/api/v1/commands/${queued.command_id}`)).state),
    {what: 'the command delivered'}
  );

  const result = {command_id: queued.command_id, status: 'succeeded', exit_code: 0, output: 'upgraded to 2.1.0'};
  agent.send({customMessage: {capability, type: 'result', data: Buffer.from(JSON.stringify(result))}});
  const finished = await eventually(
    async () => {
      const command = await server.call('GET', `/api/v1/commands/${queued.command_id}`);
      return command.state === 'succeeded' ? command : null;
    },
    {what: 'the command succeeded'}
  );
  assert.equal(finished.result.exit_code, 0);
  assert.equal(finished.result.output, 'upgraded to 2.1.0');
});

test('commands an agent cannot take over OpAMP stay queued for the REST path', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  // No AcceptsRestartCommand and no custom capabilities.
  const {agent, agentId} = await register(server, token, 'ws-plain', {
    capabilities: Cap.ReportsStatus | Cap.ReportsHeartbeat,
  });
  const restart = await server.call('POST', `/api/v1/agents/${agentId}/commands`, {type: 'restart'});
  const upgrade = await server.call('POST', `/api/v1/agents/${agentId}/commands`, {type: 'upgrade'});
  for (let i = 0; i < 3; i++) {
    const answer = await agent.exchange({});
    assert.equal(answer.command, undefined);
    assert.equal(answer.customMessage, undefined);
  }
  for (const queued of [restart, upgrade]) {
    assert.equal((await server.call('GET', `/api/v1/commands/${queued.command_id}`)).state, 'queued');
  }
  assert.ok(agent.received.every((s2a) => !s2a.command && !s2a.customMessage), 'nothing pushed');
});

test('the operators listener speaks OpAMP over WebSocket too, and Basic authentication with the token opens the upgrade', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const basic = `Basic ${Buffer.from(`agent:${token}`).toString('base64')}`;
  const agent = await WsAgent.connect(`ws://127.0.0.1:${server.port}/v1/opamp`, {authorization: basic});
  cleanups.push(() => agent.terminate());
  const answer = await agent.exchange(agent.fullState({'service.name': 'ws-operators-side', 'service.instance.id': 'ops-1'}));
  assert.ok(sameBytes(answer.instanceUid, agent.instanceUid));
  await server.waitForAgent('ops-1');
});

test('a sequence gap over WebSocket is answered with ReportFullState once', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, first} = await register(server, token, 'ws-gap');
  assert.ok(!asksFullState(first));
  assert.ok(!asksFullState(await agent.exchange({})));
  agent.sequenceNum += 3n; // three messages lost
  assert.ok(asksFullState(await agent.exchange({})), 'a gap asks for full state');
  const full = await agent.exchange(agent.fullState({'service.name': 'ws-gap', 'service.instance.id': 'ws-gap-1'}));
  assert.ok(!asksFullState(full), 'not again once it came');
  assert.ok(!asksFullState(await agent.exchange({})));
});

test('a pushed config the agent does not answer is sent again after 30 s of server time, not before', async () => {
  const server = await startServer();
  const token = await server.enrollmentToken();
  const {agent, agentId} = await register(server, token, 'ws-silent');
  await server.createConfig('quiet', FILES);
  const receivedBefore = agent.received.length;
  await server.assignToAgent(agentId, 'quiet');
  const pushed = await agent.nextAfter(receivedBefore, (s2a) => s2a.remoteConfig, 10_000, 'the pushed config');

  // The agent says nothing of it (no remote_config_status) for 20 s.
  await server.advanceClock(20_000);
  const early = await agent.exchange({});
  assert.equal(early.remoteConfig, undefined, 'not again within 30 s');
  await server.advanceClock(11_000);
  const again = await agent.exchange({});
  assert.ok(again.remoteConfig, 'sent again once 30 s passed');
  assert.ok(sameBytes(again.remoteConfig.configHash, pushed.remoteConfig.configHash));
});
