// Runs the real `muster` binary for the OpAMP end-to-end tests and talks to
// its REST API as an operator. The binary comes from MUSTER_BIN (ctest sets
// it to the built target). Every wait is a condition polled against a
// deadline, never a fixed sleep; time the server measures (heartbeat
// timeouts) moves only through the manual clock (`advanceClock`).
//
// Run: `ctest -L opamp` in a build directory, or
// `MUSTER_BIN=<build>/muster npm test --prefix tests/e2e/opamp` after
// `npm ci --prefix tests/e2e/opamp` (scripts/test does that).

import {spawn} from 'node:child_process';
import {randomFillSync} from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

const require = createRequire(import.meta.url);

// The OpAMP messages as the elastic client's package generated them from
// opamp-spec: independent of muster's own .proto. Both come from the CommonJS
// build of @bufbuild/protobuf, the one the generated schemas were made with.
export const opamp = require('@elastic/opamp-client-node/lib/generated/opamp_pb.js');
export const {create, toBinary, fromBinary} = require('@bufbuild/protobuf');
export const elastic = require('@elastic/opamp-client-node');

const POLL_MS = 25;

/// Polls `condition` (sync or async) every 25 ms until it returns a truthy
/// value, which it returns; throws after `timeoutMs` naming `what` and the
/// last value seen (or the last error thrown).
export async function eventually(condition, {timeoutMs = 10_000, what = 'condition'} = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await condition();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const shown = last instanceof Error ? last.stack : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/// The 16 bytes of a UUID as muster prints it (lowercase 8-4-4-4-12).
export function uuidString(bytes) {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/// A new random instance uid shaped as a UUIDv7 (version and variant bits set).
export function newInstanceUid() {
  const bytes = randomFillSync(new Uint8Array(16));
  const now = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((now >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return bytes;
}

const running = new Set();
// A test file that throws or is cut short must not leave servers behind.
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

function musterBinary() {
  const binary = process.env.MUSTER_BIN;
  if (!binary) throw new Error('MUSTER_BIN is not set: point it at the built muster binary');
  if (!fs.existsSync(binary)) throw new Error(`MUSTER_BIN=${binary} does not exist`);
  return binary;
}

/// One `muster serve` on 127.0.0.1 with ephemeral ports, a temp data dir,
/// the test hooks and a manual clock.
export class Muster {
  /// Starts a server; `args` are extra flags (e.g. --opamp-max-message-bytes).
  static async start({args = []} = {}) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'muster-opamp-'));
    const server = new Muster(scratch, args);
    await server.#launch(0);
    return server;
  }

  constructor(scratch, args) {
    this.scratch = scratch;
    this.dataDir = path.join(scratch, 'data');
    this.args = args;
    this.child = null;
    this.port = 0;
    this.agentPort = 0;
    this.adminKey = '';
    this.launches = 0;
  }

  get logPath() {
    return path.join(this.scratch, `server-${this.launches}.log`);
  }

  /// Everything the current (or last) process wrote to stderr.
  logText() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /// The operators' listener.
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /// The agents' listener, where OpAMP clients connect.
  get agentUrl() {
    return `http://127.0.0.1:${this.agentPort}`;
  }

  get opampUrl() {
    return `${this.agentUrl}/v1/opamp`;
  }

  get opampWsUrl() {
    return `ws://127.0.0.1:${this.agentPort}/v1/opamp`;
  }

  async #launch(agentPort) {
    this.launches += 1;
    const log = fs.openSync(this.logPath, 'w');
    const argv = [
      'serve',
      '--data', this.dataDir,
      '--listen', '127.0.0.1:0',
      '--agent-listen', `127.0.0.1:${agentPort}`,
      '--enable-test-hooks',
      '--test-manual-clock',
      ...this.args,
    ];
    const child = spawn(musterBinary(), argv, {stdio: ['ignore', 'ignore', log]});
    fs.closeSync(log);
    this.child = child;
    running.add(child);
    child.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve(code ?? `signal ${signal}`);
      });
    });
    let exited = false;
    child.exited.then(() => {
      exited = true;
    });
    try {
      await eventually(
        () => {
          if (exited) throw new Error(`muster exited while starting; log:\n${this.logText()}`);
          for (const line of this.logText().split('\n')) {
            if (!line.includes('"listening"')) continue;
            const record = JSON.parse(line);
            if (record.msg !== 'listening') continue;
            this.port = record.port;
            this.agentPort = record.agent_port;
            return true;
          }
          return false;
        },
        {timeoutMs: 30_000, what: 'muster to log "listening"'}
      );
      await eventually(
        async () => (await fetch(`${this.url}/readyz`).catch(() => ({status: 0}))).status === 200,
        {timeoutMs: 30_000, what: '/readyz to answer 200'}
      );
    } catch (error) {
      this.kill();
      error.message += `\nserver log:\n${this.logText()}`;
      throw error;
    }
    this.adminKey = fs.readFileSync(path.join(this.dataDir, 'admin.key'), 'utf8').trim();
  }

  /// SIGTERM, then waits for the exit; returns the exit code.
  async stop() {
    if (!this.child) return null;
    const child = this.child;
    this.child = null;
    child.kill('SIGTERM');
    return child.exited;
  }

  /// Stops (SIGTERM) and starts again on the same data dir and the same
  /// agents' port, so clients configured with the endpoint carry on.
  async restart() {
    const code = await this.stop();
    if (code !== 0) throw new Error(`muster exited ${code} on SIGTERM; log:\n${this.logText()}`);
    await this.#launch(this.agentPort);
  }

  /// SIGKILL, no wait (for cleanup).
  kill() {
    if (this.child) this.child.kill('SIGKILL');
    this.child = null;
  }

  /// Stops the server and removes its files.
  async close() {
    if (this.child) {
      const child = this.child;
      this.kill();
      await child.exited;
    }
    fs.rmSync(this.scratch, {recursive: true, force: true});
  }

  /// One REST call on the operators' listener with the admin key (or
  /// `token`); answers {status, headers, text, json}.
  async api(method, urlPath, body, {token, headers = {}} = {}) {
    const init = {method, headers: {Authorization: `Bearer ${token ?? this.adminKey}`, ...headers}};
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers['Content-Type'] ??= 'application/json';
    }
    const answer = await fetch(`${this.url}${urlPath}`, init);
    const text = await answer.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return {status: answer.status, headers: answer.headers, text, json};
  }

  /// Like `api`, but throws unless the status is one of `expected`.
  async call(method, urlPath, body, expected = [200, 201], options = {}) {
    const answer = await this.api(method, urlPath, body, options);
    if (!expected.includes(answer.status)) {
      throw new Error(`${method} ${urlPath} answered ${answer.status}: ${answer.text}`);
    }
    return answer.json;
  }

  /// A new enrollment token of the default organization.
  async enrollmentToken({labels} = {}) {
    const made = await this.call('POST', '/api/v1/enrollment-tokens', {name: 'opamp-e2e', ...(labels ? {labels} : {})});
    return made.token;
  }

  /// Creates a config (first version) of `files` ({name: {content_type, body}}).
  async createConfig(name, files) {
    return this.call('POST', '/api/v1/configs', {name, files});
  }

  /// A new version of a config.
  async updateConfig(name, files) {
    return this.call('PUT', `/api/v1/configs/${name}`, {files});
  }

  async assignToAgent(agentId, config) {
    return this.call('PUT', `/api/v1/agents/${agentId}/assignment`, {config});
  }

  async createGroup(name, selector) {
    return this.call('POST', '/api/v1/groups', {name, selector});
  }

  async assignToGroup(group, config) {
    return this.call('PUT', `/api/v1/groups/${group}/assignment`, {config});
  }

  /// Moves the server's manual clock forward; answers its new time (ms).
  async advanceClock(ms) {
    return (await this.call('POST', '/_test/clock/advance', {ms})).now_ms;
  }

  async agent(agentId) {
    return this.call('GET', `/api/v1/agents/${agentId}`);
  }

  async agentConfig(agentId) {
    return this.call('GET', `/api/v1/agents/${agentId}/config`);
  }

  /// The listed agents whose instance_id is `instanceId` (every agent is
  /// read: a test server holds a handful; the ?q= search has its own check).
  async agentsWithInstanceId(instanceId) {
    const list = await this.call('GET', '/api/v1/agents?limit=1000');
    return list.agents.filter((agent) => agent.instance_id === instanceId);
  }

  /// Waits until exactly one agent with `instance_id` is listed; answers it.
  async waitForAgent(instanceId, timeoutMs = 10_000) {
    return eventually(
      async () => {
        const found = await this.agentsWithInstanceId(instanceId);
        return found.length === 1 ? found[0] : null;
      },
      {timeoutMs, what: `an agent with instance_id ${instanceId}`}
    );
  }

  /// Every event of the agent's stream.
  async agentEvents(agentId) {
    const answer = await this.call('GET', `/api/v1/agents/${agentId}/events?from_version=1&limit=1000`);
    return answer.events;
  }
}
