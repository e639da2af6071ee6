// The dashboard's shell: sign-in, the navigation, hash routes to one module
// per page, and the live stream every page follows.

import {canOperate, loadSession, signInAsUser, signInWithKey, signOut, whoAmI} from '/assets/api.js';
import {startStream, stopStream, subscribe} from '/assets/live.js';
import {errorLine, h} from '/assets/view.js';

// '#/agents/<id>' → the page module and its parameters.
const routes = [
  [/^#?\/?$/, 'overview', () => ({})],
  [/^#\/agents\/?$/, 'agents', () => ({})],
  [/^#\/agents\/([^/?]+)$/, 'agent', (m) => ({agentId: decodeURIComponent(m[1])})],
  [/^#\/configs\/?$/, 'configs', () => ({})],
  [/^#\/configs\/([^/?]+)$/, 'configs', (m) => ({name: decodeURIComponent(m[1])})],
  [/^#\/groups\/?$/, 'groups', () => ({})],
  [/^#\/groups\/([^/?]+)$/, 'groups', (m) => ({name: decodeURIComponent(m[1])})],
  [/^#\/rollouts\/?$/, 'rollouts', () => ({})],
  [/^#\/rollouts\/([^/?]+)$/, 'rollouts', (m) => ({rolloutId: decodeURIComponent(m[1])})],
  [/^#\/alerts\/?$/, 'alerts', () => ({})],
];

const main = document.getElementById('main');
let current = null;  // {dispose} of the page shown.
let signedIn = false;

function resolve(hash) {
  const [path, search = ''] = hash.split('?');
  for (const [pattern, page, params] of routes) {
    const match = path.match(pattern);
    if (match) return {page, params: {...params(match), query: new URLSearchParams(search)}};
  }
  return null;
}

async function show() {
  if (!signedIn) return;
  current?.dispose?.();
  current = null;
  const target = resolve(location.hash || '#/');
  for (const link of document.querySelectorAll('#nav a')) {
    const section = link.getAttribute('href').split('/')[1];
    link.classList.toggle('active', (location.hash || '#/').split('/')[1]?.split('?')[0] === section);
  }
  if (!target) {
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', {href: '#/'}, 'Back to the overview')));
    return;
  }
  main.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  const shownHash = location.hash;
  try {
    const module = await import(`/assets/${target.page}.js`);
    const root = h('section', {'data-page': target.page});
    const page = await module.render(root, {...target.params, canOperate: canOperate(), subscribe, refresh: show});
    if (location.hash !== shownHash) return page?.dispose?.();
    main.replaceChildren(root);
    current = page;
  } catch (error) {
    if (error.status === 401) return;
    main.replaceChildren(errorLine(error));
  }
}

function showSignedIn() {
  const who = whoAmI();
  document.getElementById('who').textContent = `${who.principal}${who.role ? ` (${who.role})` : ' (role unknown: read only)'}`;
  document.getElementById('nav').hidden = false;
  document.getElementById('sign-out').hidden = false;
}

function showSignIn(message) {
  signedIn = false;
  stopStream();
  current?.dispose?.();
  current = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  document.getElementById('who').textContent = '';
  const failure = h('div', {});
  if (message) failure.append(errorLine(new Error(message)));
  const attempt = (run) => async (event) => {
    event.preventDefault();
    failure.replaceChildren();
    const button = event.target.querySelector('button');
    button.disabled = true;
    try {
      await run(new FormData(event.target));
      await enter();
    } catch (error) {
      failure.append(errorLine(error.status === 401 ? new Error('Wrong credentials.') : error));
    } finally {
      button.disabled = false;
    }
  };
  main.replaceChildren(h('div', {class: 'signin card'},
    h('h1', {}, 'Sign in'),
    h('form', {id: 'user-signin', onsubmit: attempt((form) => signInAsUser(form.get('username'), form.get('password')))},
      h('label', {}, 'Username', h('input', {name: 'username', autocomplete: 'username', required: true})),
      h('label', {}, 'Password', h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true})),
      h('button', {type: 'submit'}, 'Sign in')),
    h('h2', {}, 'Or with an API key (kiosk screen)'),
    h('form', {id: 'key-signin', onsubmit: attempt((form) => signInWithKey(form.get('key')))},
      h('label', {}, 'API key', h('input', {name: 'key', type: 'password', autocomplete: 'off', required: true})),
      h('p', {class: 'muted'}, 'Kept in this tab only, until it closes.'),
      h('button', {type: 'submit'}, 'Use key')),
    failure));
}

async function enter() {
  signedIn = true;
  showSignedIn();
  await startStream();
  await show();
}

window.addEventListener('hashchange', show);
window.addEventListener('muster:signed-out', () => {
  if (signedIn) showSignIn('Signed out: the session ended or the key was revoked.');
});
document.getElementById('sign-out').addEventListener('click', async () => {
  await signOut();
  showSignIn();
});

if (await loadSession()) await enter();
else showSignIn();
