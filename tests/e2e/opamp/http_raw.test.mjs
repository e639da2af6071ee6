// The HTTP transport of /v1/opamp byte by byte, with node:http (no OpAMP
// library): credentials, content types, unparseable and oversized bodies,
// gzip both ways, what every answer must carry, sequence gaps and a restart
// command over HTTP.

import assert from 'node:assert/strict';
import http from 'node:http';
import {after, before, test} from 'node:test';
import zlib from 'node:zlib';

import {Cap, description, MUSTER_SERVER_CAPABILITIES, REPORT_FULL_STATE, sameBytes} from './clients.mjs';
import {create, eventually, fromBinary, Muster, newInstanceUid, opamp, toBinary, uuidString} from './muster.mjs';

// A small limit keeps the oversized bodies small.
const MAX_MESSAGE_BYTES = 64 * 1024;

let server;
let token;
before(async () => {
  server = await Muster.start({args: ['--opamp-max-message-bytes', String(MAX_MESSAGE_BYTES)]});
  token = await server.enrollmentToken();
});
after(async () => {
  await server?.close();
});

/// One raw HTTP request; answers {status, headers, body: Buffer} with the
/// body exactly as it came (no decompression).
function rawRequest(url, {method = 'POST', headers = {}, body} = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {method, headers}, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () =>
        resolve({status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks)})
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    if (body !== undefined) request.end(body);
    else request.end();
  });
}

function agentToServer(fields) {
  return Buffer.from(
    toBinary(
      opamp.AgentToServerSchema,
      create(opamp.AgentToServerSchema, {sequenceNum: 1n, capabilities: Cap.ReportsStatus, ...fields})
    )
  );
}

/// POSTs to /v1/opamp with the enrollment token and the protobuf content
/// type unless `headers` say otherwise (a header given as undefined is left out).
function post(body, headers = {}, url = server.opampUrl) {
  const merged = {'Content-Type': 'application/x-protobuf', Authorization: `Bearer ${token}`, ...headers};
  for (const name of Object.keys(merged)) if (merged[name] === undefined) delete merged[name];
  return rawRequest(url, {headers: merged, body});
}

function decodeAnswer(answer) {
  assert.equal(answer.headers['content-type'], 'application/x-protobuf', 'Content-Type exactly application/x-protobuf');
  const bytes = answer.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(answer.body) : answer.body;
  return fromBinary(opamp.ServerToAgentSchema, bytes);
}

function assertJsonError(answer, status) {
  assert.equal(answer.status, status, answer.body.toString());
  const error = JSON.parse(answer.body.toString());
  assert.equal(typeof error.error, 'string');
  assert.equal(typeof error.code, 'string');
  // muster leaves `details` out when there are none.
  if ('details' in error) assert.equal(typeof error.details, 'object');
  return error;
}

/// A registration message of a fresh agent.
function fullState(uid, name) {
  return agentToServer({
    instanceUid: uid,
    agentDescription: description({'service.name': name}, {'host.name': `${name}.example.com`}),
  });
}

test('no credential, or a wrong one, is 401 with a JSON error', async () => {
  const uid = newInstanceUid();
  assertJsonError(await post(fullState(uid, 'nobody'), {Authorization: undefined}), 401);
  assertJsonError(await post(fullState(uid, 'nobody'), {Authorization: 'Bearer me_0000000000000000_nope'}), 401);
  assertJsonError(await post(fullState(uid, 'nobody'), {Authorization: `Bearer ${server.adminKey}`}), 401);
  assert.equal((await server.agentsWithInstanceId(uuidString(uid))).length, 0, 'nothing registered');
});

test('the enrollment token as the password of Basic authentication is accepted', async () => {
  const uid = newInstanceUid();
  const basic = Buffer.from(`opamp:${token}`).toString('base64');
  const answer = await post(fullState(uid, 'basic-agent'), {Authorization: `Basic ${basic}`});
  assert.equal(answer.status, 200, answer.body.toString());
  assert.ok(sameBytes(decodeAnswer(answer).instanceUid, uid));
  await server.waitForAgent(uuidString(uid));
});

test('a body that is not application/x-protobuf is 415 with a JSON error', async () => {
  const uid = newInstanceUid();
  assertJsonError(await post(fullState(uid, 'json-agent'), {'Content-Type': 'application/json'}), 415);
  assertJsonError(await post(fullState(uid, 'octet-agent'), {'Content-Type': 'application/octet-stream'}), 415);
});

test('an unparseable body, or an instance_uid not 16 bytes long, is 400 with a protobuf ServerToAgent error_response BadRequest', async () => {
  const garbage = [
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), // wire type 7
    Buffer.from([0x0a, 0x20, 0x01]), // instance_uid of 32 bytes, 1 present
    Buffer.from('this is not protobuf at all, it is text'),
  ];
  // Well-formed protobuf, but an instance_uid that is not 16 bytes.
  garbage.push(agentToServer({instanceUid: new Uint8Array(8).fill(7)}));
  for (const body of garbage) {
    const answer = await post(body);
    assert.equal(answer.status, 400, `body ${body.toString('hex')}`);
    const s2a = decodeAnswer(answer);
    assert.equal(s2a.errorResponse?.type, opamp.ServerErrorResponseType.ServerErrorResponseType_BadRequest);
  }
});

test('a body over --opamp-max-message-bytes is 413, also when it is that large only once decompressed', async () => {
  const uid = newInstanceUid();
  const big = agentToServer({
    instanceUid: uid,
    agentDescription: description({'service.name': 'big', 'padding': 'x'.repeat(MAX_MESSAGE_BYTES)}),
  });
  assert.ok(big.length > MAX_MESSAGE_BYTES);
  assert.equal((await post(big)).status, 413);
  const gzipped = zlib.gzipSync(big);
  assert.ok(gzipped.length < MAX_MESSAGE_BYTES);
  assert.equal((await post(gzipped, {'Content-Encoding': 'gzip'})).status, 413);
  assert.equal((await server.agentsWithInstanceId(uuidString(uid))).length, 0, 'nothing registered');
});

/// An AgentToServer of exactly `size` bytes (a registration padded with an
/// identifying attribute muster ignores).
function messageOfSize(uid, size) {
  let padding = size;
  for (;;) {
    const message = agentToServer({
      instanceUid: uid,
      agentDescription: description({'service.name': 'sized', 'padding': 'x'.repeat(Math.max(0, padding))}),
    });
    if (message.length === size) return message;
    padding += size - message.length;
  }
}

test('the limit is inclusive: a message of exactly --opamp-max-message-bytes is taken, one byte more is 413', async () => {
  const uid = newInstanceUid();
  const over = messageOfSize(uid, MAX_MESSAGE_BYTES + 1);
  assert.equal((await post(over)).status, 413);
  const exact = messageOfSize(uid, MAX_MESSAGE_BYTES);
  const answer = await post(exact);
  assert.equal(answer.status, 200, answer.body.toString());
  assert.ok(sameBytes(decodeAnswer(answer).instanceUid, uid));
});

test('without --opamp-max-message-bytes the limit is 4 MiB', async () => {
  const defaults = await Muster.start();
  try {
    const defaultToken = await defaults.enrollmentToken();
    const uid = newInstanceUid();
    const headers = {'Content-Type': 'application/x-protobuf', Authorization: `Bearer ${defaultToken}`};
    const over = await rawRequest(defaults.opampUrl, {headers, body: messageOfSize(uid, 4 * 1024 * 1024 + 1)});
    assert.equal(over.status, 413);
    const under = await rawRequest(defaults.opampUrl, {headers, body: messageOfSize(uid, 4 * 1024 * 1024)});
    assert.equal(under.status, 200, under.body.toString().slice(0, 200));
  } finally {
    await defaults.close();
  }
});

test('a gzip request body is accepted, and the answer is gzip when Accept-Encoding allows it', async () => {
  const uid = newInstanceUid();
  const body = fullState(uid, 'gzip-agent');
  const plain = await post(zlib.gzipSync(body), {'Content-Encoding': 'gzip'});
  assert.equal(plain.status, 200, plain.body.toString());
  assert.equal(plain.headers['content-encoding'], undefined, 'no gzip unless asked');
  assert.ok(sameBytes(decodeAnswer(plain).instanceUid, uid));
  await server.waitForAgent(uuidString(uid));

  const heartbeat = agentToServer({instanceUid: uid, sequenceNum: 2n});
  const zipped = await post(heartbeat, {'Accept-Encoding': 'gzip'});
  assert.equal(zipped.status, 200);
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  const s2a = fromBinary(opamp.ServerToAgentSchema, zlib.gunzipSync(zipped.body));
  assert.ok(sameBytes(s2a.instanceUid, uid));
  assert.equal(zipped.headers['content-type'], 'application/x-protobuf');
});

test("every answer is exactly application/x-protobuf, echoes the instance_uid and carries muster's capabilities, on both listeners", async () => {
  const uid = newInstanceUid();
  const answers = [
    await post(fullState(uid, 'echo-agent')),
    await post(agentToServer({instanceUid: uid, sequenceNum: 2n})),
    await post(agentToServer({instanceUid: uid, sequenceNum: 3n}), {}, `${server.url}/v1/opamp`),
  ];
  for (const answer of answers) {
    assert.equal(answer.status, 200, answer.body.toString());
    const s2a = decodeAnswer(answer);
    assert.ok(sameBytes(s2a.instanceUid, uid), 'instance_uid echoed');
    assert.equal(s2a.capabilities, MUSTER_SERVER_CAPABILITIES);
  }
});

test('the OpAMP-Instance-UID header is taken when it names the message\'s instance, and refused when it names another', async () => {
  const uid = newInstanceUid();
  const same = await post(fullState(uid, 'header-agent'), {'OpAMP-Instance-UID': uuidString(uid).toUpperCase()});
  assert.equal(same.status, 200, same.body.toString());
  assert.ok(sameBytes(decodeAnswer(same).instanceUid, uid));
  const other = await post(agentToServer({instanceUid: uid, sequenceNum: 2n}), {'OpAMP-Instance-UID': uuidString(newInstanceUid())});
  assert.equal(other.status, 400);
  assert.equal(decodeAnswer(other).errorResponse?.type, opamp.ServerErrorResponseType.ServerErrorResponseType_BadRequest);
});

test('an overloaded store answers 503 with Retry-After and ServerErrorResponse Unavailable with RetryInfo, and nothing acknowledged is lost', async () => {
  // Every sync takes 50 ms and one append may wait: concurrent registrations overflow the queue.
  const slow = await Muster.start({args: ['--test-sync-delay-ms', '50', '--max-pending-appends', '1']});
  try {
    const slowToken = await slow.enrollmentToken();
    const uids = Array.from({length: 40}, () => newInstanceUid());
    const answers = await Promise.all(
      uids.map((uid, index) =>
        post(fullState(uid, `overload-${index}`), {Authorization: `Bearer ${slowToken}`}, slow.opampUrl)
      )
    );
    const refused = answers.filter((answer) => answer.status === 503);
    assert.ok(refused.length > 0, `statuses ${answers.map((answer) => answer.status)}`);
    for (const answer of answers) assert.ok(answer.status === 200 || answer.status === 503, `status ${answer.status}`);
    for (const answer of refused) {
      assert.ok(Number(answer.headers['retry-after']) >= 1, 'Retry-After');
      const error = decodeAnswer(answer).errorResponse;
      assert.equal(error?.type, opamp.ServerErrorResponseType.ServerErrorResponseType_Unavailable);
      assert.equal(error?.Details.case, 'retryInfo');
      assert.ok(error.Details.value.retryAfterNanoseconds > 0n);
    }
    // Each agent whose registration was answered 200 exists.
    for (const [index, answer] of answers.entries()) {
      if (answer.status !== 200) continue;
      assert.equal((await slow.agentsWithInstanceId(uuidString(uids[index]))).length, 1);
    }
  } finally {
    await slow.close();
  }
});

test('an unknown instance_uid without a description is asked for its full state, and nothing is registered', async () => {
  const uid = newInstanceUid();
  const answer = await post(agentToServer({instanceUid: uid, sequenceNum: 7n}));
  assert.equal(answer.status, 200, answer.body.toString());
  const s2a = decodeAnswer(answer);
  assert.ok((s2a.flags & REPORT_FULL_STATE) !== 0n, 'ReportFullState');
  assert.ok(sameBytes(s2a.instanceUid, uid));
  assert.equal((await server.agentsWithInstanceId(uuidString(uid))).length, 0);
});

test('an agent that accepts connection settings is offered its own agent token, which then works as its credential', async () => {
  const uid = newInstanceUid();
  const capabilities = Cap.ReportsStatus | Cap.AcceptsOpAMPConnectionSettings;
  const first = await post(
    agentToServer({
      instanceUid: uid,
      capabilities,
      agentDescription: description({'service.name': 'settled'}),
    })
  );
  assert.equal(first.status, 200, first.body.toString());
  const headers = decodeAnswer(first).connectionSettings?.opamp?.headers?.headers ?? [];
  const authorization = headers.find((header) => header.key.toLowerCase() === 'authorization');
  assert.ok(authorization, `an Authorization header offered: ${JSON.stringify(headers)}`);
  assert.match(authorization.value, /^Bearer ma_[0-9a-f-]+_.+$/);
  const listed = await server.waitForAgent(uuidString(uid));
  assert.ok(authorization.value.startsWith(`Bearer ma_${listed.agent_id}_`), 'the token names the agent');

  const second = await post(agentToServer({instanceUid: uid, capabilities, sequenceNum: 2n}), {
    Authorization: authorization.value,
  });
  assert.equal(second.status, 200, second.body.toString());
  assert.ok(sameBytes(decodeAnswer(second).instanceUid, uid));
  assert.equal((await server.agentsWithInstanceId(uuidString(uid))).length, 1);
});

test('a sequence gap is answered with ReportFullState once, not again once the full state came', async () => {
  const uid = newInstanceUid();
  const send = async (sequenceNum, withDescription = false) => {
    const fields = {instanceUid: uid, sequenceNum};
    if (withDescription) fields.agentDescription = description({'service.name': 'gappy'});
    const answer = await post(agentToServer(fields));
    assert.equal(answer.status, 200, answer.body.toString());
    return decodeAnswer(answer);
  };
  assert.ok(!(await send(1n, true)).flags, 'a full first message needs nothing more');
  assert.equal((await send(2n)).flags & REPORT_FULL_STATE, 0n);
  assert.notEqual((await send(5n)).flags & REPORT_FULL_STATE, 0n, 'a gap (2 then 5) asks for full state');
  assert.equal((await send(6n, true)).flags & REPORT_FULL_STATE, 0n, 'the full state came');
  assert.equal((await send(7n)).flags & REPORT_FULL_STATE, 0n);
  assert.equal((await send(8n)).flags & REPORT_FULL_STATE, 0n);
});

test('a restart command for an HTTP agent comes in its next answer, once, and succeeds when its sequence starts again at 1', async () => {
  const uid = newInstanceUid();
  const capabilities = Cap.ReportsStatus | Cap.AcceptsRestartCommand;
  const send = async (sequenceNum, withDescription = false) => {
    const fields = {instanceUid: uid, sequenceNum, capabilities};
    if (withDescription) fields.agentDescription = description({'service.name': 'restartable'});
    const answer = await post(agentToServer(fields));
    assert.equal(answer.status, 200, answer.body.toString());
    return decodeAnswer(answer);
  };
  await send(1n, true);
  const {agent_id: agentId} = await server.waitForAgent(uuidString(uid));
  const queued = await server.call('POST', `/api/v1/agents/${agentId}/commands`, {type: 'restart'});
  assert.equal(queued.state, 'queued');

  const carrying = await send(2n);
  assert.equal(carrying.command?.type, opamp.CommandType.CommandType_Restart, 'the next answer carries Restart');
  const delivered = await server.call('GET', `/api/v1/commands/${queued.command_id}`);
  assert.ok(['delivered', 'acknowledged'].includes(delivered.state), delivered.state);
  assert.equal((await send(3n)).command, undefined, 'not sent twice');

  // The agent restarted: its sequence starts again.
  await send(1n, true);
  await eventually(
    async () => (await server.call('GET', `/api/v1/commands/${queued.command_id}`)).state === 'succeeded',
    {what: 'the restart command succeeded'}
  );
});
