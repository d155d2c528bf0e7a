/* APP.JS - the viewer's screens: unlock, patient list and search, one
 * patient, the emergency summary. Started by DATA/KEY.JS's onload. */
(function (m) {
  'use strict';
  var LIST_LIMIT = 200;
  var rows = [];
  var current = null;

  function $(id) { return document.getElementById(id); }
  function show(id) {
    ['unlock', 'list', 'patient', 'summary'].forEach(function (s) { $(s).classList.toggle('hidden', s !== id); });
    $('back').classList.toggle('hidden', id === 'unlock' || id === 'list');
    window.scrollTo(0, 0);
  }
  function fatal(text) {
    $('fatal').textContent = text;
    $('fatal').classList.remove('hidden');
  }

  m.missing = function () {
    fatal('DATA/KEY.JS が見つかりません。媒体の INDEX.HTM を開いてください。 (DATA/KEY.JS is missing: open INDEX.HTM on the medium.)');
  };

  m.start = function () {
    m.media = window.__medgw_media;
    if (!m.media || m.media.format !== 'medgw-media/1') return fatal('この媒体の形式を読めません。 (Unknown medium format.)');
    if (!m.inflateAvailable()) return fatal('このブラウザは古すぎます。Chrome または Edge（2020 年以降の版）で開いてください。 (This browser is too old: use Chrome or Edge 80 or later.)');
    $('title').textContent = (m.media.title ? m.media.title + ' - ' : '') + 'SS-MIX2 ビューア';
    document.title = $('title').textContent;
    $('made').textContent = '作成 ' + m.media.created.replace('T', ' ').replace('Z', ' UTC') + '　' + (m.media.facility || '');
    $('back').addEventListener('click', function () { show('list'); $('query').focus(); });
    $('query').addEventListener('input', renderList);
    if (!m.media.encrypted) return openList();
    if (!m.cryptoAvailable()) return fatal('このブラウザでは暗号を解除できません（WebCrypto がありません）。Chrome または Edge で開いてください。');
    show('unlock');
    $('unlock-form').addEventListener('submit', function (event) {
      event.preventDefault();
      unlock($('passphrase').value);
    });
  };

  async function unlock(passphrase) {
    var message = $('unlock-message');
    message.classList.add('hidden');
    $('unlock-button').disabled = true;
    $('unlock-button').textContent = '確認中…';
    try {
      if (!(await m.unlock(passphrase))) {
        message.textContent = 'パスフレーズが違います。もう一度入力してください。 (Wrong passphrase.)';
        message.classList.remove('hidden');
        $('passphrase').select();
        return;
      }
      $('passphrase').value = '';
      await openList();
    } catch (e) {
      message.textContent = '開けませんでした: ' + e.message;
      message.classList.remove('hidden');
    } finally {
      $('unlock-button').disabled = false;
      $('unlock-button').textContent = '開く (Open)';
    }
  }

  async function openList() {
    var started = Date.now();
    rows = await m.loadIndex();
    var loaded = Date.now();
    show('list');
    renderList();
    m.timings.render = Date.now() - loaded;
    m.listOpenedMs = Date.now() - started;
    document.body.setAttribute('data-list-ready', String(rows.length));
    $('query').focus();
  }

  function renderList() {
    var found = m.search(rows, $('query').value);
    var body = $('patients').tBodies[0];
    var fragment = document.createDocumentFragment();
    found.slice(0, LIST_LIMIT).forEach(function (row) {
      var tr = m.el('tr', { 'data-id': row[m.row.id] }, [
        m.el('td', { text: row[m.row.id] }), m.el('td', { text: row[m.row.name] }), m.el('td', { text: row[m.row.kana] }),
        m.el('td', { text: m.date(row[m.row.birth]) }), m.el('td', { text: m.sex(row[m.row.sex]) })]);
      tr.addEventListener('click', function () { openPatient(row); });
      fragment.appendChild(tr);
    });
    body.textContent = '';
    body.appendChild(fragment);
    $('count').textContent = found.length + ' 人' + (found.length === rows.length ? '' : '（全 ' + rows.length + ' 人中）');
    $('more').textContent = found.length > LIST_LIMIT ? '先頭の ' + LIST_LIMIT + ' 人を表示しています。絞り込んでください。' : '';
  }

  async function openPatient(row) {
    try {
      current = await m.loadRecord(row[0], row[1]);
    } catch (e) {
      return fatal('患者データを開けません: ' + e.message);
    }
    m.renderPatient(current, $('patient'), openSummary);
    show('patient');
    document.body.setAttribute('data-patient', current.id);
  }

  // The newest prescriptions (orders dated within 90 days of the latest one).
  function activePrescriptions(r) {
    var orders = r.medications.filter(function (o) { return !o.given; });
    if (!orders.length) return [];
    var latest = String(orders[0].date).slice(0, 8);
    var limit = new Date(Number(latest.slice(0, 4)), Number(latest.slice(4, 6)) - 1, Number(latest.slice(6, 8)) - 90);
    var cut = String(limit.getFullYear() * 10000 + (limit.getMonth() + 1) * 100 + limit.getDate());
    return orders.filter(function (o) { return String(o.date).slice(0, 8) >= cut; });
  }

  function latestLabs(r) {
    var seen = {};
    var out = [];
    r.labs.forEach(function (report) {
      (report.results || []).forEach(function (o) {
        var k = o.code || o.name;
        if (seen[k]) return;
        seen[k] = true;
        out.push([o.name || o.code, m.flagCell(o.value || '', o.flag), o.unit || '', o.range || '', m.date(report.date)]);
      });
    });
    return out.slice(0, 30);
  }

  function openSummary() {
    var r = current;
    var target = $('summary');
    target.textContent = '';
    var el = m.el;
    var labs = latestLabs(r);
    [el('div', { 'class': 'toolbar' }, [el('button', { type: 'button', text: '印刷', onclick: function () { window.print(); } }),
      el('button', { type: 'button', text: '患者ページへ戻る', onclick: function () { show('patient'); } })]),
      el('h1', { text: '緊急時サマリー　' + (r.name || '') + '（' + (r.kana || '') + '）' }),
      el('p', { text: '患者ID ' + r.id + '　生年月日 ' + m.date(r.birth) + '　性別 ' + m.sex(r.sex) }),
      el('p', { 'class': 'muted', text: '出典: ' + (m.media.title || '') + '（' + m.media.created + ' 作成の災害時媒体）　表示 ' + new Date().toLocaleString('ja-JP') }),
      el('h2', { 'class': 'allergy', text: 'アレルギー' }), el('div', { 'class': 'allergy-box' }, [m.allergyTable(r)]),
      el('h2', { text: '現在の処方（直近 90 日のオーダ）' }), m.medicationTable(activePrescriptions(r)),
      el('h2', { text: '最新の検査値' }),
      labs.length ? m.table(['検査項目', '値', '単位', '基準値', '日付'], labs) : el('p', { 'class': 'muted', text: '検査結果なし' }),
      el('h2', { text: '病名（継続中）' }), m.diagnosisTable(r.diagnoses.filter(function (d) { return !d.end; }))
    ].forEach(function (node) { target.appendChild(node); });
    show('summary');
    document.body.setAttribute('data-summary', r.id);
  }
})(medgw);
