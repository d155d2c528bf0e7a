/* SEARCH.JS - the patient search. Names are compared folded: NFKC
 * (half-width katakana -> full-width, full-width ASCII -> ASCII), hiragana ->
 * katakana, no spaces, lower case - the same folding the export wrote into
 * the index (kana_fold.cpp), so only the query is folded here. */
(function (m) {
  'use strict';
  var ID = 2, NAME = 3, KANA = 4, BIRTH = 5, FOLDED_NAME = 7, FOLDED_KANA = 8;

  m.fold = function (text) {
    var s = String(text || '');
    if (s.normalize) s = s.normalize('NFKC');
    s = s.replace(/[\u3041-\u3096\u309d\u309e]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 0x60); });
    return s.replace(/\s+/g, '').toLowerCase();
  };

  // The index leaves out folded names where folding only drops spaces: made
  // here once, at the first search, so the list opens without the work.
  var spaces = /[\s\u3000]+/g;
  function folded_of(row, at, from) {
    if (!row[at]) row[at] = String(row[from] || '').replace(spaces, '');
    return row[at];
  }

  // A birth date in the query: "19800101", "1980-01-01", "1980/1/1".
  function dateOf(query) {
    var match = /^(\d{4})[-\/.年]?(\d{1,2})[-\/.月]?(\d{1,2})日?$/.exec(query);
    if (!match) return null;
    var pad = function (n) { return n.length === 1 ? '0' + n : n; };
    return match[1] + pad(match[2]) + pad(match[3]);
  }

  // The rows that match `query` (all rows for an empty query).
  m.search = function (rows, query) {
    var folded = m.fold(query);
    if (!folded) return rows;
    var date = dateOf(folded);
    var digits = /^[0-9]+$/.test(folded);
    return rows.filter(function (row) {
      if (date && row[BIRTH] === date) return true;
      if (String(row[ID]).lastIndexOf(folded, 0) === 0) return true;
      if (digits) return false;
      return folded_of(row, FOLDED_NAME, NAME).indexOf(folded) >= 0 || folded_of(row, FOLDED_KANA, KANA).indexOf(folded) >= 0;
    });
  };

  m.row = { id: ID, name: NAME, kana: KANA, birth: BIRTH, sex: 6 };
})(medgw);
