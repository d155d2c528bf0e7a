// Drives Debian's headless Chromium over a medgw viewer medium from file://,
// as a doctor would: passphrase, kana search, a patient's page, the emergency
// summary. Network is off; every request that is not file:// (or the page's
// own data:/blob: URLs) is blocked and reported, as is every console error.
// Prints one JSON document; the Python test judges it.
//   node tests/peers/media_viewer.mjs --media DIR --query TEXT [--passphrase P]
//        [--wrong-passphrase P] [--artifacts DIR] [--open-id ID] [--list-only]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import puppeteer from 'puppeteer-core';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const result = {consoleErrors: [], blocked: [], localOther: [], screenshots: []};
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'medgw-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.MEDGW_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
});

async function table(page, selector) {
  return page.$$eval(`${selector} tbody tr`, (trs) => trs.map((tr) => Array.from(tr.cells).map((td) => ({
    text: td.innerText.trim(),
    flagged: td.querySelector('[class^="flag-"]') ? td.querySelector('[class^="flag-"]').className : '',
  }))));
}

async function shoot(page, name) {
  if (!args.artifacts) return;
  fs.mkdirSync(args.artifacts, {recursive: true});
  const file = path.join(args.artifacts, name);
  await page.screenshot({path: file, fullPage: true});
  result.screenshots.push(file);
}

try {
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 900});
  await page.setOfflineMode(true);
  // Interception costs a DevTools round trip per request: the timing-only
  // run (--no-intercept, bench/media) leaves it out; the network is off anyway.
  if (args['no-intercept'] === undefined) await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (args['no-intercept'] !== undefined) return;
    const url = request.url();
    if (url.startsWith('file:')) return request.continue();
    if (url.startsWith('data:') || url.startsWith('blob:')) {
      result.localOther.push(url.slice(0, 40));
      return request.continue();
    }
    result.blocked.push(url);
    return request.abort('blockedbyclient');
  });
  page.on('console', (message) => { if (message.type() === 'error') result.consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => result.consoleErrors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    if (request.url().startsWith('file:')) result.consoleErrors.push(`failed: ${request.url()}`);
  });

  const started = Date.now();
  await page.goto(pathToFileURL(path.join(args.media, 'INDEX.HTM')).href, {waitUntil: 'load'});
  if (args['wrong-passphrase'] !== undefined) {
    await page.waitForSelector('#unlock:not(.hidden)', {timeout: 10000});
    await page.type('#passphrase', args['wrong-passphrase']);
    await page.click('#unlock-button');
    await page.waitForSelector('#unlock-message:not(.hidden)', {timeout: 20000});
    result.wrongPassphraseMessage = await page.$eval('#unlock-message', (e) => e.innerText);
    await shoot(page, 'media-wrong-passphrase.png');
    await page.$eval('#passphrase', (e) => { e.value = ''; });
  }
  const unlockStart = Date.now();
  if (args.passphrase !== undefined) {
    await page.waitForSelector('#unlock:not(.hidden)', {timeout: 10000});
    await page.type('#passphrase', args.passphrase);
    await page.click('#unlock-button');
  }
  await page.waitForSelector('body[data-list-ready]', {timeout: 30000});
  result.unlockAndListMs = Date.now() - unlockStart;
  result.pageToListMs = Date.now() - started;
  result.listOpenedMs = await page.evaluate(() => window.medgw.listOpenedMs);
  result.listTimings = await page.evaluate(() => window.medgw.timings);
  result.listCount = Number(await page.$eval('body', (b) => b.getAttribute('data-list-ready')));
  await shoot(page, 'media-list.png');
  if (args['list-only'] === undefined) {
    await page.type('#query', args.query);
    result.found = await page.$$eval('#patients tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')));
    await shoot(page, 'media-search.png');
    const id = args['open-id'] || result.found[0];
    await page.click(`#patients tbody tr[data-id="${id}"]`);
    await page.waitForSelector(`body[data-patient="${id}"]`, {timeout: 10000});
    result.patient = {
      id,
      head: await page.$eval('#patient .head', (e) => e.innerText),
      allergies: await table(page, '#patient .allergy-table'),
      labs: await table(page, '#patient .lab-table'),
      labHeader: await page.$$eval('#patient .lab-table thead th', (ths) => ths.map((th) => th.innerText)),
      medications: await page.$$eval('#patient table', (ts) => ts.filter((t) => t.innerText.includes('1回量'))
        .map((t) => Array.from(t.tBodies[0].rows).map((r) => Array.from(r.cells).map((c) => c.innerText.trim())))[0] || []),
      text: await page.$eval('#patient', (e) => e.innerText),
    };
    await shoot(page, 'media-patient.png');
    await page.click('#open-summary');
    await page.waitForSelector(`body[data-summary="${id}"]`, {timeout: 10000});
    result.summary = await page.$eval('#summary', (e) => e.innerText);
    await page.emulateMediaType('print');
    await shoot(page, 'media-summary.png');
  }
} catch (error) {
  result.failure = String(error && error.stack || error);
  try {  // what the viewer itself said, if anything
    result.viewerMessage = await (await browser.pages())[1].$eval('#unlock-message, #fatal', (e) => e.innerText);
  } catch (ignored) { /* no page */ }
} finally {
  await browser.close();
  fs.rmSync(profile, {recursive: true, force: true});
}
process.stdout.write(JSON.stringify(result) + '\n');
