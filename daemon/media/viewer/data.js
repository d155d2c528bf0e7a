/* DATA.JS - loading the medium's DATA/ files and opening them.
 * file:// pages may not fetch or XHR, nor load ES modules; classic scripts
 * are allowed, so every data file is a script that hands its content to
 * window.__medgw_pack / window.__medgw_index. Items are base64, sealed with
 * AES-256-GCM when the medium is encrypted (key: PBKDF2-SHA256 of the
 * passphrase, WebCrypto), with "medgw-media/1:" + the item name as
 * additional data. Plain ES2017, no library. */
var medgw = window.medgw || {};
window.medgw = medgw;
(function (m) {
  'use strict';
  var arrivedFiles = {};
  var waiting = {};
  var cacheOrder = [];
  var key = null;
  var encoder = new TextEncoder();
  var decoder = new TextDecoder('utf-8');

  function arrived(name, value) {
    arrivedFiles[name] = value;
    var w = waiting[name];
    if (w) {
      delete waiting[name];
      w.resolve(value);
    }
  }
  window.__medgw_pack = arrived;
  window.__medgw_index = arrived;

  // Loads DATA/<name> once; resolves with what the script handed over.
  function load(name) {
    if (Object.prototype.hasOwnProperty.call(arrivedFiles, name)) return Promise.resolve(arrivedFiles[name]);
    if (waiting[name]) return waiting[name].promise;
    var w = {};
    w.promise = new Promise(function (resolve, reject) { w.resolve = resolve; w.reject = reject; });
    waiting[name] = w;
    var script = document.createElement('script');
    script.charset = 'utf-8';
    script.src = 'DATA/' + name;
    script.onload = function () {
      script.parentNode.removeChild(script);
      if (waiting[name]) {
        delete waiting[name];
        w.reject(new Error('DATA/' + name + ' is not a medgw data file'));
      }
    };
    script.onerror = function () {
      script.parentNode.removeChild(script);
      delete waiting[name];
      w.reject(new Error('DATA/' + name + ' is missing from the medium'));
    };
    document.head.appendChild(script);
    return w.promise;
  }

  // Packs hold many patients: keep the last few loaded, forget older ones.
  function remember(name) {
    cacheOrder = cacheOrder.filter(function (n) { return n !== name; });
    cacheOrder.push(name);
    while (cacheOrder.length > 8) delete arrivedFiles[cacheOrder.shift()];
  }

  function bytesOf(base64) {
    var binary = atob(base64);
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  async function openItem(name, text) {
    var raw = bytesOf(text);
    if (!m.media.encrypted) return raw;
    var plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: raw.subarray(0, 12), additionalData: encoder.encode('medgw-media/1:' + name) },
      key, raw.subarray(12));
    return new Uint8Array(plain);
  }

  m.utf8 = function (bytes) { return decoder.decode(bytes); };

  // JSON items are deflated (zlib format) before sealing.
  async function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  m.inflateAvailable = function () { return typeof DecompressionStream === 'function'; };
  m.cryptoAvailable = function () { return !!(window.crypto && window.crypto.subtle); };

  // True when the passphrase opens the medium's check item.
  m.unlock = async function (passphrase) {
    var info = m.media;
    var base = await crypto.subtle.importKey('raw', encoder.encode(passphrase), 'PBKDF2', false, ['deriveKey']);
    key = await crypto.subtle.deriveKey(
      { name: 'PBKDF2', salt: bytesOf(info.salt), iterations: info.iterations, hash: 'SHA-256' },
      base, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
    try {
      return m.utf8(await openItem('check', info.check)) === 'medgw-media/1 passphrase check';
    } catch (e) {
      key = null;
      return false;
    }
  };

  // Every index row of every shard, in the medium's order, as
  // [pack name, item number, id, name, kana, birth, sex, folded name, folded kana].
  // A shard leaves out the folded names where folding only drops the spaces.
  m.timings = { load: 0, open: 0, parse: 0, rows: 0, render: 0 };
  m.loadIndex = async function () {
    var parts = await Promise.all(m.media.shards.map(async function (shard) {
      var t0 = Date.now();
      var text = await load(shard);
      var t1 = Date.now();
      delete arrivedFiles[shard];
      var plain = m.utf8(await inflate(await openItem(shard, text)));
      var t2 = Date.now();
      var index = JSON.parse(plain);
      m.timings.load += t1 - t0;
      m.timings.open += t2 - t1;
      m.timings.parse += Date.now() - t2;
      return index;
    }));
    var t3 = Date.now();
    var rows = [];
    parts.forEach(function (part) {
      for (var i = 0; i < part.rows.length; i++) {
        var row = part.rows[i];
        row[0] = part.packs[row[0]];  // the folded names, where absent, are made by the first search
        rows.push(row);
      }
    });
    m.timings.rows = Date.now() - t3;
    return rows;
  };

  // The bytes of item "P/<hex>.JS#n" (or pack name and number apart).
  m.loadItem = async function (pack, number) {
    if (number === undefined) {
      var at = pack.lastIndexOf('#');
      number = Number(pack.slice(at + 1));
      pack = pack.slice(0, at);
    }
    var items = await load(pack);
    remember(pack);
    if (!(number >= 0 && number < items.length)) throw new Error('an item is missing from ' + pack);
    return openItem(pack + '#' + number, items[number]);
  };

  m.loadRecord = async function (pack, token) {
    return JSON.parse(m.utf8(await inflate(await m.loadItem(pack, token))));
  };
})(medgw);
