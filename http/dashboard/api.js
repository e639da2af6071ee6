// Talking to muster's API: who is signed in and how every request carries
// it. A user's session is an HttpOnly cookie the browser sends by itself;
// writes made with it carry the session's CSRF token. A kiosk's API key is
// kept only in sessionStorage (gone with the tab) and sent as a bearer token.

const KEY_STORAGE = 'muster.api_key';

const session = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  csrf: '',
  principal: '',
  role: '',  // 'viewer' | 'operator' | 'admin', or '' when unknown.
  org: '',
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || '';
    this.details = body?.details;
  }
}

/// The headers that carry the caller's credential (and, for a write made
/// with the session cookie, its CSRF token).
export function authHeaders(method = 'GET') {
  const headers = {};
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  else if (session.csrf && method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = session.csrf;
  return headers;
}

/// One API call; answers the parsed JSON body, throws ApiError otherwise.
/// A 401 means the credential is gone: the app goes back to sign-in.
export async function api(method, path, body) {
  const init = {method, headers: authHeaders(method), credentials: 'same-origin'};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const answer = await fetch(path, init);
  const text = await answer.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!answer.ok) {
    const error = new ApiError(answer.status, json);
    if (answer.status === 401) window.dispatchEvent(new CustomEvent('muster:signed-out'));
    throw error;
  }
  return json;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});

/// Learns who is signed in (cookie or key) from GET /api/v1/auth/session.
/// A server without that route (before accounts): the key is checked on a
/// viewer route and its role is unknown, so no write is offered. Answers
/// false when nobody is signed in.
export async function loadSession() {
  try {
    const who = await fetch('/api/v1/auth/session', {headers: authHeaders(), credentials: 'same-origin'});
    if (who.ok) {
      const body = await who.json();
      session.principal = body.principal || '';
      session.role = body.role || '';
      session.org = body.org || '';
      session.csrf = body.csrf_token || session.csrf;
      return true;
    }
    if (who.status !== 404 || !session.key) return false;
    const probe = await fetch('/api/v1/stats', {headers: authHeaders()});
    if (!probe.ok) return false;
    session.principal = 'API key';
    session.role = '';
    return true;
  } catch {
    return false;
  }
}

/// Signs in as a user; throws ApiError on a wrong password (or a throttle).
export async function signInAsUser(username, password) {
  forgetKey();
  const answer = await api('POST', '/api/v1/auth/login', {username, password});
  session.csrf = answer.csrf_token || '';
  session.principal = `user:${answer.user?.username || username}`;
  session.role = answer.user?.role || '';
  session.org = answer.user?.org || '';
}

/// Signs in with an API key (a kiosk screen): kept for this tab only.
export async function signInWithKey(key) {
  session.key = key.trim();
  sessionStorage.setItem(KEY_STORAGE, session.key);
  if (await loadSession()) return;
  forgetKey();
  throw new ApiError(401, {error: 'the API key is malformed, unknown or revoked'});
}

export async function signOut() {
  if (!session.key) await api('POST', '/api/v1/auth/logout').catch(() => {});
  forgetKey();
  Object.assign(session, {csrf: '', principal: '', role: '', org: ''});
}

function forgetKey() {
  session.key = '';
  sessionStorage.removeItem(KEY_STORAGE);
}

export function whoAmI() {
  return {principal: session.principal, role: session.role, org: session.org};
}

/// True when the signed-in role may make operator writes; an unknown role may not.
export function canOperate() {
  return session.role === 'operator' || session.role === 'admin';
}

/// A query string from `params`, leaving out empty values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((item) => item !== '' && search.append(name, item));
    else if (value !== undefined && value !== null && value !== '') search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
