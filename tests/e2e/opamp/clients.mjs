// The two OpAMP clients the scenarios drive: npm's @elastic/opamp-client-node
// (HTTP, a real agent library, watched through its diagnostics channel) and
// a WebSocket agent written here on npm's `ws` and the elastic package's
// generated schemas (neither shares code with muster's server).

import diagnostics from 'node:diagnostics_channel';
import {WebSocket} from 'ws';

import {create, elastic, eventually, fromBinary, newInstanceUid, opamp, toBinary, uuidString} from './muster.mjs';

export const Cap = {
  ReportsStatus: 0x1n,
  AcceptsRemoteConfig: 0x2n,
  ReportsEffectiveConfig: 0x4n,
  AcceptsOpAMPConnectionSettings: 0x100n,
  AcceptsRestartCommand: 0x400n,
  ReportsHealth: 0x800n,
  ReportsRemoteConfig: 0x1000n,
  ReportsHeartbeat: 0x2000n,
};

/// What muster offers on every answer (the contract):
/// AcceptsStatus|OffersRemoteConfig|AcceptsEffectiveConfig|OffersConnectionSettings.
export const MUSTER_SERVER_CAPABILITIES = 0x1n | 0x2n | 0x4n | 0x20n;

export const REPORT_FULL_STATE = BigInt(opamp.ServerToAgentFlags.ServerToAgentFlags_ReportFullState);

export function asksFullState(s2a) {
  return (s2a.flags & REPORT_FULL_STATE) !== 0n;
}

export function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

export function sameBytes(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/// The files of an AgentConfigMap as {name: {content_type, body}} with text bodies.
export function filesOf(configMap) {
  const files = {};
  for (const [name, file] of Object.entries(configMap?.configMap ?? {})) {
    files[name] = {content_type: file.contentType, body: Buffer.from(file.body).toString('utf8')};
  }
  return files;
}

/// An AgentDescription message from plain objects of string/number/bool attributes.
export function description(identifying, nonIdentifying = {}) {
  const keyValues = (attributes) =>
    Object.entries(attributes).map(([key, value]) => {
      let any;
      if (typeof value === 'string') any = {case: 'stringValue', value};
      else if (typeof value === 'boolean') any = {case: 'boolValue', value};
      else if (typeof value === 'bigint') any = {case: 'intValue', value};
      else any = {case: 'doubleValue', value};
      return {key, value: {value: any}};
    });
  return {identifyingAttributes: keyValues(identifying), nonIdentifyingAttributes: keyValues(nonIdentifying)};
}

/// One @elastic/opamp-client-node client against muster, with every exchange
/// it made recorded from the client's own diagnostics channel (what it sent
/// and what it got) and every remote config its onMessage received.
export class ElasticAgent {
  constructor({
    endpoint,
    token,
    identifying,
    nonIdentifying,
    heartbeatSeconds = 0.3,
    onRemoteConfig = () => {},
    acceptsRemoteConfig = true,
  }) {
    this.exchanges = [];
    this.failures = [];
    this.remoteConfigs = [];
    this.onRemoteConfig = onRemoteConfig;
    this.instanceUid = newInstanceUid();
    this.instanceUidString = uuidString(this.instanceUid);
    // Called from the diagnostics channel right after an exchange and before
    // the client schedules its next send.
    this.afterExchange = null;
    this.client = elastic.createOpAMPClient({
      endpoint,
      headers: {Authorization: `Bearer ${token}`},
      instanceUid: this.instanceUid,
      heartbeatIntervalSeconds: heartbeatSeconds,
      diagEnabled: true,
      capabilities: acceptsRemoteConfig
        ? BigInt(elastic.AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig) |
          BigInt(elastic.AgentCapabilities.AgentCapabilities_ReportsRemoteConfig)
        : undefined,
      onMessage: ({remoteConfig}) => {
        if (!remoteConfig) return;
        this.remoteConfigs.push(remoteConfig);
        this.onRemoteConfig(remoteConfig, this);
      },
    });
    this.client.setAgentDescription({identifyingAttributes: identifying, nonIdentifyingAttributes: nonIdentifying});
    this.onSuccess = (message) => {
      if (message.instanceUidStr !== this.instanceUidString) return;
      this.exchanges.push({a2s: message.a2s, s2a: message.s2a, time: message.time});
      if (this.afterExchange) this.afterExchange(message);
    };
    this.onFail = (message) => {
      if (message.instanceUidStr !== this.instanceUidString) return;
      this.failures.push({a2s: message.a2s, err: String(message.err), time: message.time});
    };
    diagnostics.subscribe(elastic.DIAG_CH_SEND_SUCCESS, this.onSuccess);
    diagnostics.subscribe(elastic.DIAG_CH_SEND_FAIL, this.onFail);
    this.stopped = false;
  }

  start() {
    this.client.start();
    return this;
  }

  async shutdown() {
    if (this.stopped) return;
    this.stopped = true;
    diagnostics.unsubscribe(elastic.DIAG_CH_SEND_SUCCESS, this.onSuccess);
    diagnostics.unsubscribe(elastic.DIAG_CH_SEND_FAIL, this.onFail);
    await this.client.shutdown();
  }

  /// Waits until `count` more exchanges than `since` succeeded; answers the
  /// index after them.
  async exchangesAfter(since, count = 1, timeoutMs = 10_000) {
    await eventually(() => this.exchanges.length >= since + count, {
      timeoutMs,
      what: `${count} OpAMP exchange(s) after #${since} (failures: ${JSON.stringify(this.failures.slice(-3))})`,
    });
    return this.exchanges.length;
  }

  /// Reports a remote config status through the client's public API.
  report(status, configHash, errorMessage) {
    const report = {status, lastRemoteConfigHash: configHash};
    if (errorMessage !== undefined) report.errorMessage = errorMessage;
    this.client.setRemoteConfigStatus(report);
  }
}

/// A WebSocket OpAMP agent: each message is the 0x00 header then the
/// protobuf. Records every ServerToAgent it gets, in order.
export class WsAgent {
  /// Opens the connection (rejects with {statusCode} when the upgrade is refused).
  static async connect(url, {token, authorization, instanceUid, capabilities, maxPayload} = {}) {
    const headers = {};
    if (authorization !== undefined) headers.Authorization = authorization;
    else if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const socket = new WebSocket(url, {headers, maxPayload: maxPayload ?? 64 << 20});
    const agent = new WsAgent(socket, instanceUid ?? newInstanceUid(), capabilities);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('unexpected-response', (request, response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => {
          const error = new Error(`upgrade refused: ${response.statusCode} ${body}`);
          error.statusCode = response.statusCode;
          error.body = body;
          reject(error);
        });
      });
      socket.once('error', reject);
    });
    return agent;
  }

  constructor(socket, instanceUid, capabilities) {
    this.socket = socket;
    this.instanceUid = instanceUid;
    this.capabilities =
      capabilities ??
      Cap.ReportsStatus |
        Cap.AcceptsRemoteConfig |
        Cap.ReportsRemoteConfig |
        Cap.AcceptsRestartCommand |
        Cap.ReportsHealth |
        Cap.ReportsHeartbeat;
    this.sequenceNum = 0n;
    this.received = [];
    this.badFrames = [];
    this.sent = 0;
    this.closed = null;
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closed = {code, reason: reason.toString()};
        resolve(this.closed);
      });
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('message', (data, isBinary) => {
      const bytes = Buffer.from(data);
      if (!isBinary || bytes.length === 0 || bytes[0] !== 0x00) {
        this.badFrames.push({isBinary, bytes});
        return;
      }
      this.received.push(fromBinary(opamp.ServerToAgentSchema, bytes.subarray(1)));
    });
  }

  get uidString() {
    return uuidString(this.instanceUid);
  }

  /// Sends one AgentToServer: `fields` over this agent's uid, capabilities
  /// and next sequence number.
  send(fields = {}) {
    this.sequenceNum += 1n;
    const message = create(opamp.AgentToServerSchema, {
      instanceUid: this.instanceUid,
      capabilities: this.capabilities,
      sequenceNum: this.sequenceNum,
      ...fields,
    });
    this.sendRaw(Buffer.from(toBinary(opamp.AgentToServerSchema, message)));
  }

  /// Sends the 0x00 header and then `payload` as they are.
  sendRaw(payload) {
    this.sent += 1;
    this.socket.send(Buffer.concat([Buffer.from([0x00]), payload]), {binary: true});
  }

  /// Sends and waits for the next ServerToAgent.
  async exchange(fields = {}, timeoutMs = 10_000) {
    const before = this.received.length;
    this.send(fields);
    return this.nextAfter(before, () => true, timeoutMs);
  }

  /// The first ServerToAgent at index >= `index` that satisfies `predicate`.
  async nextAfter(index, predicate = () => true, timeoutMs = 10_000, what = 'a ServerToAgent') {
    return eventually(
      () => {
        if (this.closed && this.received.length <= index) throw new Error(`closed: ${JSON.stringify(this.closed)}`);
        return this.received.slice(index).find(predicate);
      },
      {timeoutMs, what}
    );
  }

  /// The full description a fresh agent sends first.
  fullState(identifying, nonIdentifying, extra = {}) {
    return {agentDescription: description(identifying, nonIdentifying), ...extra};
  }

  close(code = 1000) {
    this.socket.close(code);
    return this.closedPromise;
  }

  terminate() {
    this.socket.terminate();
    return this.closedPromise;
  }
}
