// Word-level diff of two texts (a word with its trailing spaces is one token; a CJK character is one),
// for the revision-vs-original view. Longest common subsequence on the middle part, after trimming the
// common prefix and suffix; a middle too large for the table falls back to one deletion plus one
// insertion. Within each changed stretch the deleted text comes first, then the inserted text.
"use strict";

const MMLWDiff = (() => {
  const CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f";
  const TOKEN = new RegExp(`[${CJK}]\\s*|[^\\s${CJK}]+\\s*|\\s+`, "g");
  const MAX_CELLS = 4000000;

  function tokens(text) {
    return text.match(TOKEN) || [];
  }

  function push(out, op, text) {
    const last = out[out.length - 1];
    if (last && last.op === op) last.text += text;
    else out.push({ op, text });
  }

  function diff(before, after) {
    const a = tokens(before), b = tokens(after);
    let start = 0;
    while (start < a.length && start < b.length && a[start] === b[start]) start++;
    let endA = a.length, endB = b.length;
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
    const out = [];
    if (start) push(out, "=", a.slice(0, start).join(""));
    const n = endA - start, m = endB - start;
    if ((n + 1) * (m + 1) > MAX_CELLS) {
      if (n) push(out, "-", a.slice(start, endA).join(""));
      if (m) push(out, "+", b.slice(start, endB).join(""));
    } else {
      const w = m + 1, table = new Uint32Array((n + 1) * w);
      for (let i = n - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
          table[i * w + j] = a[start + i] === b[start + j]
            ? table[(i + 1) * w + j + 1] + 1
            : Math.max(table[(i + 1) * w + j], table[i * w + j + 1]);
        }
      }
      let i = 0, j = 0, removed = "", added = "";
      const flush = () => {
        if (removed) push(out, "-", removed);
        if (added) push(out, "+", added);
        removed = added = "";
      };
      while (i < n || j < m) {
        if (i < n && j < m && a[start + i] === b[start + j]) { flush(); push(out, "=", a[start + i]); i++; j++; }
        else if (j < m && (i === n || table[i * w + j + 1] >= table[(i + 1) * w + j])) { added += b[start + j]; j++; }
        else { removed += a[start + i]; i++; }
      }
      flush();
    }
    if (endA < a.length) push(out, "=", a.slice(endA).join(""));
    return out;
  }

  function count(text) {
    return tokens(text).filter((t) => /\S/.test(t)).length;
  }

  return { diff, tokens, count };
})();
