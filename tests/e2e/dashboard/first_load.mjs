// The dashboard's first load, for bench/run dashboard: a fresh browser
// context (nothing cached) signed in with a key opens the overview; the time
// from navigation start until the overview shows the fleet's total, the
// median of RUNS. The baseline, in the same run: the sign-in page, which
// loads the same files and asks the API nothing but who is signed in.
//
//   node first_load.mjs URL KEY EXPECTED_TOTAL [RUNS]
// prints {"overview_ms":...,"sign_in_ms":...,"runs":N,"total":...}

import {launchBrowser} from './browser.mjs';

const [url, key, expected, runs = '5'] = process.argv.slice(2);
if (!url || !key || !expected) {
  console.error('usage: node first_load.mjs URL KEY EXPECTED_TOTAL [RUNS]');
  process.exit(2);
}

const browser = await launchBrowser();
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function load({signedIn}) {
  const context = await browser.newContext();
  if (signedIn) await context.addInitScript((value) => sessionStorage.setItem('muster.api_key', value), key);
  const page = await context.newPage();
  await page.goto(`${url}/#/`);
  const ready = signedIn
    ? page.waitForFunction((total) => document.querySelector('[data-count=total]')?.textContent === total, expected, {timeout: 60_000})
    : page.waitForSelector('#key-signin');
  await ready;
  // performance.now() counts from the navigation's start.
  const ms = await page.evaluate(() => performance.now());
  await context.close();
  return ms;
}

try {
  const overview = [];
  const signIn = [];
  for (let run = 0; run < Number(runs); run++) {
    signIn.push(await load({signedIn: false}));
    overview.push(await load({signedIn: true}));
  }
  console.log(JSON.stringify({overview_ms: Math.round(median(overview)), sign_in_ms: Math.round(median(signIn)),
    runs: Number(runs), total: Number(expected)}));
} finally {
  await browser.close();
}
