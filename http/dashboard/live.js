// The live event stream (GET /api/v1/events/stream) read with fetch, not
// EventSource, which cannot send an Authorization header. Server-Sent Events
// are parsed here; after a cut the stream reconnects with Last-Event-ID, so
// nothing is missed or repeated. Pages subscribe to the events they show.

import {authHeaders} from '/assets/api.js';

const listeners = new Set();
let controller = null;
let lastId = '';

/// Calls `listener(event)` for each log event (the JSON /api/v1/events
/// gives); answers a function that unsubscribes.
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/// Opens the stream; resolves once the server answered (events appended
/// from then on will arrive), or failed to.
export function startStream() {
  stopStream();
  controller = new AbortController();
  const signal = controller.signal;
  return new Promise((opened) => {
    run(signal, opened);
  });
}

export function stopStream() {
  if (controller) controller.abort();
  controller = null;
  lastId = '';
}

async function run(signal, opened) {
  let delayMs = 500;
  while (!signal.aborted) {
    try {
      const headers = authHeaders();
      if (lastId) headers['Last-Event-ID'] = lastId;
      const answer = await fetch('/api/v1/events/stream', {headers, signal, credentials: 'same-origin'});
      opened();
      if (answer.status === 401) {
        window.dispatchEvent(new CustomEvent('muster:signed-out'));
        return;
      }
      if (!answer.ok || !answer.body) throw new Error(`stream answered ${answer.status}`);
      delayMs = 500;
      await read(answer.body.getReader());
    } catch (error) {
      opened();
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 10_000);
  }
}

// SSE framing: lines `field: value`, an empty line ends an event; a line
// starting with ':' is a comment (the keep-alives).
async function read(reader) {
  const decoder = new TextDecoder();
  let buffered = '';
  let event = {id: '', type: 'message', data: []};
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, {stream: true});
    let newline;
    while ((newline = buffered.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + (buffered.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (event.data.length) dispatch(event);
        event = {id: '', type: 'message', data: []};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') event.id = value;
      else if (field === 'event') event.type = value;
      else if (field === 'data') event.data.push(value);
    }
  }
}

function dispatch(event) {
  if (event.type === 'error') return;  // The stream's last words; reconnecting reads on.
  if (event.id) lastId = event.id;
  let parsed;
  try {
    parsed = JSON.parse(event.data.join('\n'));
  } catch {
    return;
  }
  for (const listener of listeners) listener(parsed);
}
