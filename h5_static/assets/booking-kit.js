/* Yiwei booking pages: shared helpers (window.YB) on top of YW. Plain ES2017, no dependencies.
 * - the server's clock: countdowns use the offset between the API's server_time and the phone, taken once;
 * - Shanghai date and time texts straight from the API's +08:00 strings (whatever the phone's time zone);
 * - request keys made once per booking attempt and kept in sessionStorage (a reload or a double tap reuses it). */
(function (w) {
  'use strict';
  var WEEK = ['周日', '周一', '周二', '周三', '周四', '周五', '周六'];
  var offset = null;

  /* Server time minus phone time, set from the first server_time seen (later answers only refine it
   * when the phone's clock jumped by more than 5 s, e.g. the user changed it). */
  function syncClock(serverTime) {
    var t = Date.parse(serverTime || '');
    if (isNaN(t)) return;
    var o = t - Date.now();
    if (offset === null || Math.abs(o - offset) > 5000) offset = o;
  }
  function now() { return Date.now() + (offset || 0); }
  function msUntil(iso) { var t = Date.parse(iso || ''); return isNaN(t) ? NaN : t - now(); }

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  /* 1天02:03:04 / 02:03:04 */
  function countdownText(ms) {
    if (!(ms > 0)) return '00:00:00';
    var s = Math.ceil(ms / 1000);
    var d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    return (d ? d + '天' : '') + pad(h) + ':' + pad(m) + ':' + pad(s);
  }

  /* "2026-11-27" or "2026-11-27T08:00:00+08:00" → parts, read from the string (times are +08:00) */
  function parts(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(iso || '');
    if (!m) return null;
    return { y: +m[1], mo: +m[2], d: +m[3], hm: m[4] ? m[4] + ':' + m[5] : '' };
  }
  function md(iso) { var p = parts(iso); return p ? p.mo + '月' + p.d + '日' : ''; }
  function hm(iso) { var p = parts(iso); return p ? p.hm : ''; }
  function weekday(iso) {
    var p = parts(iso);
    return p ? WEEK[new Date(Date.UTC(p.y, p.mo - 1, p.d)).getUTCDay()] : '';
  }
  function mdhm(iso) { return (md(iso) + ' ' + hm(iso)).trim(); }
  function releaseText(iso) { return mdhm(iso) + ' 放号'; }
  function deadlineText(iso) { return iso ? mdhm(iso) + ' 前可在线退号' : ''; }
  function whenText(s) { return md(s.date) + ' ' + weekday(s.date) + ' ' + (s.session_name || ''); }

  /* Dates from..to inclusive as YYYY-MM-DD (calendar arithmetic in UTC: no time zone involved) */
  function dateRange(from, to) {
    var a = parts(from), b = parts(to), out = [];
    if (!a || !b) return out;
    var t = Date.UTC(a.y, a.mo - 1, a.d), end = Date.UTC(b.y, b.mo - 1, b.d);
    for (; t <= end && out.length < 31; t += 86400000) out.push(new Date(t).toISOString().slice(0, 10));
    return out;
  }

  /* The Shanghai calendar date of a moment (ms) plus `days`, as YYYY-MM-DD */
  function shanghaiDate(ms, days) {
    return new Date(ms + 8 * 3600000 + (days || 0) * 86400000).toISOString().slice(0, 10);
  }

  /* ---- request keys: one per attempt ---- */
  var KEY_PREFIX = 'yw.rk.';
  function randomKey() {
    var chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', out = '';
    var bytes = new Uint8Array(24);
    if (w.crypto && w.crypto.getRandomValues) w.crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    for (var j = 0; j < bytes.length; j++) out += chars.charAt(bytes[j] % chars.length);
    return 'yw' + out;
  }
  function requestKey(scope) {
    var k = null;
    try { k = w.sessionStorage.getItem(KEY_PREFIX + scope); } catch (e) { k = null; }
    if (k) return k;
    k = randomKey();
    try { w.sessionStorage.setItem(KEY_PREFIX + scope, k); } catch (e) { /* this page keeps it in memory only */ }
    return k;
  }
  function forgetKey(scope) { try { w.sessionStorage.removeItem(KEY_PREFIX + scope); } catch (e) { /* nothing kept */ } }

  /* Calls fn every second until it returns false; returns a stopper */
  function every(fn, ms) {
    var id = setInterval(function () { if (fn() === false) clearInterval(id); }, ms || 1000);
    fn();
    return function () { clearInterval(id); };
  }

  /* A WeUI confirm dialog; resolves true/false */
  function confirmDialog(Y, title, text, okText) {
    return new Promise(function (resolve) {
      var box = document.createElement('div');
      Y.render(box, Y.html`<div class="weui-mask"></div><div class="weui-dialog" role="dialog" aria-modal="true" aria-labelledby="yb-dialog-title">
        <div class="weui-dialog__hd"><strong class="weui-dialog__title" id="yb-dialog-title">${title}</strong></div>
        <div class="weui-dialog__bd">${text}</div>
        <div class="weui-dialog__ft"><button type="button" class="weui-dialog__btn weui-dialog__btn_default yw-btn-reset" data-test="dialog-cancel">再想想</button>
        <button type="button" class="weui-dialog__btn weui-dialog__btn_primary yw-btn-reset" data-test="dialog-ok">${okText || '确定'}</button></div></div>`);
      document.body.appendChild(box);
      function done(v) { box.parentNode.removeChild(box); resolve(v); }
      Y.$('[data-test="dialog-cancel"]', box).addEventListener('click', function () { done(false); });
      Y.$('[data-test="dialog-ok"]', box).addEventListener('click', function () { done(true); });
    });
  }

  w.YB = {
    syncClock: syncClock, now: now, msUntil: msUntil, countdownText: countdownText, md: md, hm: hm, weekday: weekday,
    mdhm: mdhm, releaseText: releaseText, deadlineText: deadlineText, whenText: whenText, dateRange: dateRange, shanghaiDate: shanghaiDate,
    requestKey: requestKey, forgetKey: forgetKey, every: every, confirmDialog: confirmDialog
  };
})(window);
