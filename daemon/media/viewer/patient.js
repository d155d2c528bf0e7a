/* PATIENT.JS - one patient's page and the printable emergency summary.
 * Everything from the data is put in with textContent, never as HTML. */
(function (m) {
  'use strict';

  var TYPE_LABELS = {
    'ADT-00': '患者基本', 'ADT-01': '担当医変更', 'ADT-12': '外来受付', 'ADT-21': '入院予定', 'ADT-22': '入院',
    'ADT-31': '外出泊', 'ADT-32': '外出泊帰院', 'ADT-41': '転科・転棟予定', 'ADT-42': '転科・転棟', 'ADT-51': '退院予定',
    'ADT-52': '退院', 'ADT-61': 'アレルギー', 'PPR-01': '病名', 'OMD': '食事オーダ', 'OMP-01': '処方オーダ',
    'OMP-11': '処方実施', 'OMP-02': '注射オーダ', 'OMP-12': '注射実施', 'OML-01': '検体検査オーダ',
    'OML-11': '検体検査結果', 'OMG-01': '放射線検査オーダ', 'OMG-11': '放射線検査実施', 'OMG-02': '内視鏡検査オーダ',
    'OMG-12': '内視鏡検査実施', 'OMG-03': '生理検査オーダ', 'OMG-13': '生理検査結果'
  };
  var PROBLEMS = {
    encoding_invalid: '文字コードが読めない', hl7_invalid: 'HL7 として読めない', unknown_data_type: '未知のデータ種別',
    unreadable: 'ファイルを読めない', bad_file_name: 'ファイル名が規約外', misplaced: 'フォルダとファイル名が不一致',
    pid_mismatch: 'PID の患者IDがファイル名と不一致', content_folder_invalid: 'コンテンツフォルダ名が規約外'
  };
  var STATUS = { order: 'オーダ', done: '実施', report: '結果' };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  m.el = el;

  m.date = function (value) {
    var v = String(value || '');
    if (!/^\d{6,}/.test(v)) return v;
    var out = v.slice(0, 4) + '/' + v.slice(4, 6) + (v.length >= 8 ? '/' + v.slice(6, 8) : '');
    if (v.length >= 12 && v.slice(8, 12) !== '0000') out += ' ' + v.slice(8, 10) + ':' + v.slice(10, 12);
    return out;
  };
  function age(birth) {
    if (!/^\d{8}$/.test(birth || '')) return '';
    var now = new Date();
    var years = now.getFullYear() - Number(birth.slice(0, 4));
    var md = (now.getMonth() + 1) * 100 + now.getDate();
    if (md < Number(birth.slice(4, 8))) years--;
    return years + '歳';
  }
  var SEX = { M: '男', F: '女', O: 'その他', U: '不明' };
  m.sex = function (s) { return SEX[s] || s || ''; };
  function label(type) { return TYPE_LABELS[type] || type || ''; }
  function flagCell(text, flag) {
    var f = (flag || '').split(' ')[0];
    var mark = f === 'H' || f === 'HH' ? ' ↑' : f === 'L' || f === 'LL' ? ' ↓' : '';
    return el('span', { 'class': f && f !== 'N' ? 'flag-' + f : '', text: text + (f && f !== 'N' ? mark + f : '') });
  }
  function warning(item) {
    return item.warn ? el('span', { 'class': 'warn', text: ' ⚠' + (PROBLEMS[item.warn] || item.warn) }) : null;
  }
  function table(headers, rows, cls) {
    return el('table', { 'class': 'grid ' + (cls || '') }, [
      el('thead', {}, [el('tr', {}, headers.map(function (h) { return el('th', { text: h }); }))]),
      el('tbody', {}, rows.map(function (cells) {
        return el('tr', {}, cells.map(function (c) {
          return c instanceof Node ? el('td', {}, [c]) : el('td', { text: c === undefined ? '' : String(c) });
        }));
      }))
    ]);
  }
  function none(text) { return el('p', { 'class': 'muted', text: text || '登録なし' }); }
  m.table = table;
  m.flagCell = flagCell;

  function header(r) {
    var profile = (r.profile || []).map(function (o) { return o.name + ' ' + o.value + (o.unit ? ' ' + o.unit : ''); });
    return el('div', { 'class': 'head' }, [
      el('span', { 'class': 'name', text: r.name || '(氏名なし)' }), el('span', { 'class': 'kana', text: r.kana || '' }),
      el('div', { text: '患者ID ' + r.id + '　生年月日 ' + m.date(r.birth) + (r.birth ? '（' + age(r.birth) + '）' : '') +
        '　性別 ' + m.sex(r.sex) }),
      r.address ? el('div', { 'class': 'muted', text: r.address + (r.phone ? '　TEL ' + r.phone : '') }) : null,
      profile.length ? el('div', { text: profile.join('　') }) : null
    ]);
  }

  m.allergyTable = function (r) {
    if (!r.allergies.length) return none('アレルギーの登録なし');
    return table(['種類', 'アレルゲン', '重症度', '症状', '発症'], r.allergies.map(function (a) {
      return [a.kind || '', el('strong', {}, [a.allergen || a.code || '', warning(a)]), a.severity || '', a.reaction || '', a.onset || ''];
    }), 'allergy-table');
  };

  m.diagnosisTable = function (list) {
    if (!list.length) return none('病名の登録なし');
    return table(['病名', 'ICD10', '開始日', '終了日', '転帰', '区分'], list.map(function (d) {
      return [el('span', {}, [(d.suspected ? '(疑い) ' : '') + (d.name || d.code), warning(d)]), d.icd10 || '',
        m.date(d.start), m.date(d.end), d.outcome || '', d.category || ''];
    }));
  };

  function encounters(r) {
    if (!r.encounters.length) return none('入退院・受診の記録なし');
    return table(['日時', '種別', '入外', '病棟・病室', '診療科', '医師'], r.encounters.map(function (e) {
      var kind = el('span', { 'class': e.cancel ? 'cancel' : '' }, [label(e.type) + (e.cancel ? '（取消）' : ''), warning(e)]);
      return [m.date(e.date), kind, e['class'] === 'I' ? '入院' : e['class'] === 'O' ? '外来' : e['class'] || '',
        e.location || '', e.dept || '', e.doctor || ''];
    }));
  }

  m.medicationTable = function (list) {
    if (!list.length) return none('処方・注射の記録なし');
    var rows = [];
    list.forEach(function (o) {
      o.lines.forEach(function (l, i) {
        rows.push([i === 0 ? m.date(o.date) : '', i === 0 ? el('span', {}, [label(o.type), warning(o)]) : '',
          el('strong', { text: l.name || l.code || '' }), (l.amount || '') + (l.unit ? ' ' + l.unit : ''),
          l.usage || '', l.days || '', l.total || '', l.route || '']);
      });
    });
    return table(['日付', '種別', '薬品', '1回量', '用法', '日数', '総量', '経路'], rows);
  };

  // Lab results as a table: one row per test, one column per date (newest
  // first), with the unit, the reference range and a trend line.
  m.labMatrix = function (labs, maxDates) {
    if (!labs.length) return none('検査結果なし');
    var dates = [];
    var tests = {};
    var order = [];
    labs.forEach(function (report) {
      var d = String(report.date || '').slice(0, 12);
      if (dates.indexOf(d) < 0) dates.push(d);
      (report.results || []).forEach(function (o) {
        var k = o.code || o.name;
        if (!tests[k]) { tests[k] = { name: o.name || o.code, unit: o.unit || '', range: o.range || '', values: {} }; order.push(k); }
        if (!tests[k].values[d]) tests[k].values[d] = o;
      });
    });
    dates.sort().reverse();
    var shown = dates.slice(0, maxDates || dates.length);
    var rows = order.map(function (k) {
      var t = tests[k];
      var cells = [t.name, t.unit, t.range];
      shown.forEach(function (d) {
        var o = t.values[d];
        cells.push(o ? flagCell(o.value || '', o.flag) : '');
      });
      cells.push(trend(dates.slice().reverse().map(function (d) { return t.values[d]; })));
      return cells;
    });
    return el('div', { 'class': 'labs' }, [table(['検査項目', '単位', '基準値'].concat(shown.map(m.date)).concat(['推移']), rows, 'lab-table')]);
  };

  function trend(values) {
    var points = values.map(function (o) { return o ? parseFloat(o.value) : NaN; }).filter(function (v) { return !isNaN(v); });
    if (points.length < 2) return '';
    var min = Math.min.apply(null, points), max = Math.max.apply(null, points), w = 80, h = 20;
    var path = points.map(function (v, i) {
      var x = (i / (points.length - 1)) * (w - 4) + 2;
      var y = max === min ? h / 2 : h - 2 - ((v - min) / (max - min)) * (h - 4);
      return (i ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
    }).join(' ');
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('width', w); svg.setAttribute('height', h); svg.setAttribute('class', 'trend');
    var line = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    line.setAttribute('d', path); line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#1d4f7a'); line.setAttribute('stroke-width', '1.5');
    svg.appendChild(line);
    return svg;
  }

  function exams(r) {
    if (!r.exams.length) return none('検査オーダ・レポートなし');
    return table(['日付', '種別', '状態', '内容', '所見・結果'], r.exams.map(function (e) {
      var findings = (e.findings || []).map(function (o) {
        return (o.name || o.code || '') + ': ' + (o.value || '') + (o.unit ? ' ' + o.unit : '') +
          (o.flag && o.flag !== 'N' ? ' [' + o.flag + ']' : '');
      }).join('\n');
      return [m.date(e.date), el('span', {}, [label(e.type), warning(e)]), STATUS[e.status] || e.status || '',
        (e.procedures || []).join('\n'), el('pre', { 'class': 'doc', text: findings })];
    }));
  }

  async function openDocument(file, target) {
    try {
      var bytes = await m.loadItem(file.ref);
      if (/^text\/xml|^text\/plain|^text\/css/.test(file.mime)) {
        var text = m.utf8(bytes);
        if (file.mime === 'text/xml') {
          var xml = new DOMParser().parseFromString(text, 'text/xml');
          text = (xml.documentElement ? xml.documentElement.textContent : text).replace(/\n\s*\n+/g, '\n');
        }
        target.textContent = text;
        target.classList.remove('hidden');
        return;
      }
      window.open(URL.createObjectURL(new Blob([bytes], { type: file.mime })), '_blank');
    } catch (e) {
      target.textContent = '開けません: ' + e.message;
      target.classList.remove('hidden');
    }
  }

  function documents(r) {
    if (!r.documents.length) return none('文書なし');
    return el('div', {}, r.documents.map(function (d) {
      var shown = el('pre', { 'class': 'doc hidden' });
      var buttons = (d.files || []).filter(function (f) { return f.mime !== 'text/css'; }).map(function (f) {
        return f.ref ? el('button', { type: 'button', text: f.name, onclick: function () { openDocument(f, shown); } })
          : el('span', { 'class': 'muted', text: f.name + '（大きすぎるため未収録: SSMIX2 のデータを参照）' });
      });
      return el('div', {}, [el('h3', { text: m.date(d.date) + '　' + (d.title || label(d.type)) }), warning(d),
        d.text ? el('pre', { 'class': 'doc', text: d.text }) : null].concat(buttons).concat([shown]));
    }));
  }

  function unread(r) {
    var items = (r.unread || []).map(function (u) {
      return [label(u.type), m.date(u.date), PROBLEMS[u.problem] || u.problem];
    });
    var parts = [];
    if (items.length) parts.push(el('h2', { text: '表示できなかった項目' }), table(['種別', '日付', '理由'], items));
    if (r.superseded || r.deleted) {
      parts.push(el('p', { 'class': 'muted', text: '更新前の版 ' + (r.superseded || 0) + ' 件と削除された項目 ' +
        (r.deleted || 0) + ' 件は表示していません（元データは SSMIX2 に収録）。' }));
    }
    return el('div', {}, parts);
  }

  m.renderPatient = function (r, target, onSummary) {
    target.textContent = '';
    var active = r.diagnoses.filter(function (d) { return !d.end; });
    var ended = r.diagnoses.filter(function (d) { return d.end; });
    [header(r),
      el('div', { 'class': 'toolbar' }, [el('button', { id: 'open-summary', type: 'button', text: '緊急時サマリー（印刷用）', onclick: onSummary })]),
      el('h2', { 'class': 'allergy', text: 'アレルギー' }), el('div', { 'class': 'allergy-box' }, [m.allergyTable(r)]),
      el('h2', { text: '病名' }), m.diagnosisTable(active.concat(ended)),
      el('h2', { text: '処方・注射' }), m.medicationTable(r.medications),
      el('h2', { text: '検体検査結果' }), m.labMatrix(r.labs),
      el('h2', { text: '入退院・受診歴' }), encounters(r),
      el('h2', { text: '放射線・内視鏡・生理検査、その他のオーダ' }), exams(r),
      el('h2', { text: '文書（拡張ストレージ）' }), documents(r),
      unread(r)
    ].forEach(function (node) { if (node) target.appendChild(node); });
  };
})(medgw);
