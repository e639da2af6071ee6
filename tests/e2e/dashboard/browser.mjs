// Debian's chromium driven by playwright-core, and what the dashboard tests
// share: a muster (tests/e2e/opamp/muster.mjs, the OpAMP tests' launcher)
// with agents registered through the REST API, and a page signed in with an
// API key.
//
// Run: `ctest -L dashboard` in a build directory, or
// `MUSTER_BIN=<build>/muster npm test --prefix tests/e2e/dashboard` after
// `npm ci` in tests/e2e/dashboard and tests/e2e/opamp (scripts/test does both).

import fs from 'node:fs';
import {chromium} from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/// A headless chromium that makes no request of its own: this machine (and
/// CI's) has no network, and without these flags chromium waits on lookups.
/// playwright gives it a fresh temporary profile (--user-data-dir) each time.
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-deps installs chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/// A new page of its own context (no cookie or storage shared), recording
/// console errors, uncaught exceptions and every request not to `server`.
export async function openPage(browser, server) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  const page = await context.newPage();
  page.consoleErrors = [];
  page.outsideRequests = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Asking who is signed in answers 401 to nobody (and 404 on a server
    // without accounts): chromium logs that answer, it is no fault.
    if (message.location()?.url?.endsWith('/api/v1/auth/session')) return;
    page.consoleErrors.push(`${message.text()} (${message.location()?.url})`);
  });
  page.on('pageerror', (error) => page.consoleErrors.push(`uncaught: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${server.url}/`) && !url.startsWith('data:')) page.outsideRequests.push(url);
  });
  return page;
}

/// Opens the dashboard and signs in with `key` (the kiosk path).
export async function signInWithKey(page, server, key, hash = '') {
  await page.goto(`${server.url}/${hash}`);
  await page.fill('#key-signin input[name=key]', key);
  await page.click('#key-signin button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
}

/// A new API key of `role` (in the default organization, or `org`).
export async function issueKey(server, role, org) {
  return (await server.call('POST', '/api/v1/api-keys', {name: `dashboard-${role}`, role, ...(org ? {org} : {})})).key;
}

/// Registers an agent through an enrollment token; answers {agentId, token}.
export async function registerAgent(server, instanceId, fields = {}) {
  const enrollment = await server.enrollmentToken();
  const registered = await server.call('POST', '/api/v1/agents/register', {instance_id: instanceId, ...fields}, [200, 201],
    {token: enrollment});
  return {agentId: registered.agent_id, token: registered.agent_token};
}

/// One heartbeat of the agent (`body` merged in: metrics, status).
export async function heartbeat(server, agent, body = {}) {
  return server.call('POST', `/api/v1/agents/${agent.agentId}/heartbeat`, {status: 'online', ...body}, [200],
    {token: agent.token});
}
