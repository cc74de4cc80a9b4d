/* Yiwei H5 shared helpers. Plain ES2017, no dependencies, no build step.
 * Loaded in <head> (not deferred) so 大字模式 applies before the first paint; pages call YW.page(). */
(function (w, d) {
  'use strict';
  var LARGE_KEY = 'yw.largeType';
  var root = d.documentElement;

  /* ---- escaping and rendering: every interpolated value is HTML-escaped unless it is SafeHtml ---- */
  function SafeHtml(s) { this.s = s; }
  SafeHtml.prototype.toString = function () { return this.s; };
  var ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
  function esc(v) { return v == null ? '' : String(v).replace(/[&<>"'`]/g, function (c) { return ESC[c]; }); }
  function frag(v) {
    if (v instanceof SafeHtml) return v.s;
    if (Array.isArray(v)) return v.map(frag).join('');
    if (v == null || v === false) return '';
    return esc(v);
  }
  function html(strings) {
    var out = strings[0];
    for (var i = 1; i < arguments.length; i++) out += frag(arguments[i]) + strings[i];
    return new SafeHtml(out);
  }
  function render(el, content) { el.innerHTML = frag(content); return el; }
  function $(sel, ctx) { return (ctx || d).querySelector(sel); }
  function $$(sel, ctx) { return Array.prototype.slice.call((ctx || d).querySelectorAll(sel)); }

  /* ---- query string and links ---- */
  function query(name, search) {
    var v = new URLSearchParams(search == null ? w.location.search : search).get(name);
    return v ? v.trim() : '';
  }
  function link(page, params) {
    var q = Object.keys(params || {}).filter(function (k) { return params[k] != null && params[k] !== ''; })
      .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); }).join('&');
    return page + (q ? '?' + q : '');
  }
  function telHref(phone) { return 'tel:' + String(phone).split(/[转,，;；/、]/)[0].replace(/[^0-9+\-]/g, ''); }
  function money(text, fen) { return '¥' + (text || (Number(fen || 0) / 100).toFixed(2)); }
  function fmtTime(asOf) {
    var m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})/.exec(asOf || '');
    return m ? m[1] + ' ' + m[2] : '';
  }

  /* ---- 大字模式 ---- */
  function store(key, value) {
    try {
      if (value === undefined) return w.localStorage.getItem(key);
      if (value === null) w.localStorage.removeItem(key); else w.localStorage.setItem(key, value);
    } catch (e) { /* storage blocked: setting lasts for this page only */ }
    return null;
  }
  function isLarge() { return root.classList.contains('yw-large'); }
  function setLarge(on) {
    root.classList.toggle('yw-large', !!on);
    store(LARGE_KEY, on ? '1' : null);
    $$('.yw-bigbtn').forEach(function (b) { b.setAttribute('aria-pressed', on ? 'true' : 'false'); });
  }
  if (store(LARGE_KEY) === '1') root.classList.add('yw-large');
  // back navigation may restore a page from the cache: follow a change made on another page
  w.addEventListener('pageshow', function (e) { if (e.persisted) setLarge(store(LARGE_KEY) === '1'); });

  /* ---- JSON API ---- */
  function ApiError(code, message, status) {
    this.code = code; this.message = message; this.status = status || 0;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.name = 'ApiError';

  /* A 401 carrying login_url: through WeChat login once, then back to this page (path + query).
   * sessionStorage remembers the attempt so a browser that cannot keep the session never loops. */
  var LOGIN_KEY = 'yw.loginAt';
  var LOGIN_RETRY_MS = 120000;
  function toLogin(body) {
    if (!body || typeof body.login_url !== 'string' || body.login_url.indexOf('/api/auth/login') !== 0) return false;
    try {
      var last = Number(w.sessionStorage.getItem(LOGIN_KEY) || 0);
      if (last && Math.abs(Date.now() - last) < LOGIN_RETRY_MS) return false;
      w.sessionStorage.setItem(LOGIN_KEY, String(Date.now()));
    } catch (e) { return false; } // no storage, no loop guard: show the message instead
    w.location.replace('/api/auth/login?next=' + encodeURIComponent(w.location.pathname + w.location.search));
    return true;
  }

  function getJSON(path, opts) { return sendJSON('GET', path, null, opts); }
  /* POST/DELETE with a JSON body; errors arrive as ApiError with the server's code and message
   * (a 4xx message is written for people and shown as it is; 429 carries retry_after). */
  function sendJSON(method, path, payload, opts) {
    var timeout = (opts && opts.timeout) || 15000;
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer;
    var expired = new Promise(function (_, reject) {
      timer = setTimeout(function () {
        if (ctrl) ctrl.abort();
        reject(new ApiError('TIMEOUT', '网络不太好，加载超时了，请稍后重试'));
      }, timeout);
    });
    var init = { method: method, headers: { Accept: 'application/json' }, credentials: 'same-origin', signal: ctrl ? ctrl.signal : undefined };
    if (payload != null) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(payload); }
    var work = fetch(path, init)
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (res.ok && body) return body;
          if (res.status === 204) return {};
          if (res.status === 401 && toLogin(body)) { clearTimeout(timer); return new Promise(function () {}); } // navigating away
          var msg = body && typeof body.message === 'string' && body.message;
          var code = (body && body.code) || (res.status === 404 ? 'NOT_FOUND' : 'HTTP_' + res.status);
          if (res.ok) throw new ApiError('BAD_RESPONSE', '数据加载出错，请稍后重试', res.status);
          if (res.status >= 500) {
            var busy = new ApiError(code, (res.status === 503 && msg) || '服务暂时不可用，请稍后重试', res.status);
            busy.body = body;
            throw busy;
          }
          var err = new ApiError(code, msg || (res.status === 404 ? '没有找到相关信息' : '请求有误，请返回重试'), res.status);
          err.body = body;
          throw err;
        });
      }, function () { throw new ApiError('NETWORK', '网络连接失败，请检查网络后重试'); });
    return Promise.race([work, expired]).then(
      function (body) { clearTimeout(timer); return body; },
      function (e) { clearTimeout(timer); throw e; });
  }

  /* ---- page states ---- */
  function setTitle(t) { d.title = t; }
  var ICON = { warn: 'weui-icon-warn', info: 'weui-icon-info', waiting: 'weui-icon-waiting' };
  function loading(text) {
    return html`<div class="yw-state" role="status"><div class="weui-loadmore"><span class="weui-primary-loading weui-primary-loading_brand"><span class="weui-primary-loading__dot"></span></span><span class="weui-loadmore__tips">${text || '正在加载…'}</span></div></div>`;
  }
  function empty(text) {
    return html`<div class="weui-loadmore weui-loadmore_line yw-empty"><span class="weui-loadmore__tips">${text || '暂无数据'}</span></div>`;
  }
  /* Full-page WeUI message: o = {icon, title, desc, retry: fn|null, home: bool} */
  function msg(el, o) {
    render(el, html`<div class="weui-msg yw-msg" role="alert">
      <div class="weui-msg__icon-area"><i class="${ICON[o.icon] || ICON.warn} weui-icon_msg"></i></div>
      <div class="weui-msg__text-area"><h2 class="weui-msg__title">${o.title}</h2>${o.desc ? html`<p class="weui-msg__desc">${o.desc}</p>` : ''}</div>
      <div class="weui-msg__opr-area"><p class="weui-btn-area">
        ${o.retry ? html`<button type="button" class="weui-btn weui-btn_primary yw-retry">${o.retryText || '重新加载'}</button>` : ''}
        ${o.home !== false ? html`<a href="index.html" class="weui-btn weui-btn_default">返回首页</a>` : ''}
      </p></div></div>`);
    var b = $('.yw-retry', el);
    if (b) b.addEventListener('click', o.retry);
  }
  function pending() { return new ApiError('SYNCING', '医院信息正在同步，请稍后刷新', 0); }

  /* ---- shared fragments ---- */
  function deptRow(dep, showCampus) {
    var where = [showCampus ? dep.campus_name : '', dep.location_text].filter(Boolean).join(' · ');
    return html`<a class="weui-cell weui-cell_access yw-dept" href="${link('department.html', { id: dep.department_id })}" data-name="${dep.name}">
      <div class="weui-cell__bd"><span class="yw-dept-name">${dep.name}</span>${dep.restriction ? html`<span class="yw-tag">${dep.restriction}</span>` : ''}
      ${where ? html`<span class="yw-desc">${where}</span>` : ''}</div><div class="weui-cell__ft"></div></a>`;
  }
  function doctorRow(doc) {
    var titles = [doc.title_name, doc.academic_title].filter(Boolean).join(' · ');
    var sp = (doc.specialties || []).join('、');
    return html`<a class="weui-cell weui-cell_access yw-doctor" href="${link('doctor.html', { id: doc.doctor_id })}">
      <div class="weui-cell__hd"><span class="yw-avatar yw-avatar_sm" aria-hidden="true">${(doc.name || '医').charAt(0)}</span></div>
      <div class="weui-cell__bd"><span class="yw-doctor-name">${doc.name}</span> <span class="yw-tag yw-tag_grey">${titles}</span>
      ${sp ? html`<span class="yw-desc">擅长：${sp}</span>` : ''}</div><div class="weui-cell__ft"></div></a>`;
  }
  /* campusNames: {campus_id: name}; noType: leave 专家号 etc. out of the label (fees.html groups by it) */
  function feeCells(fees, campusNames, noType) {
    return fees.map(function (f) {
      var label = noType ? f.title_name || f.reg_type_name : [f.reg_type_name, f.title_name].filter(Boolean).join(' · ');
      var campus = f.campus_id ? (campusNames && campusNames[f.campus_id]) || f.campus_id : '';
      var parts = (f.components || []).map(function (c) { return c.name + ' ' + money(c.amount_text, c.amount_fen); }).join('，');
      return html`<div class="weui-cell yw-fee"><div class="weui-cell__bd">${label}${campus ? html`<span class="yw-tag yw-tag_grey">仅${campus}</span>` : ''}
        ${parts ? html`<span class="yw-desc">含 ${parts}</span>` : ''}${f.notes ? html`<span class="yw-desc">${f.notes}</span>` : ''}</div>
        <div class="weui-cell__ft yw-ft"><span class="yw-price">${money(f.fee_text, f.fee_fen)}</span></div></div>`;
    });
  }

  function none(text) { return html`<div class="weui-cell"><div class="weui-cell__bd yw-desc">${text}</div></div>`; }
  function feeBlock(fees, names) {
    return html`<div class="weui-cells__title">挂号费用</div>
      <div class="weui-cells" id="fee-list">${fees.length ? feeCells(fees, names) : none('暂无收费信息')}</div>
      <div class="weui-cells__tips">实际费用以挂号时显示的金额为准。<a class="weui-link" href="fees.html">查看全部收费标准</a></div>`;
  }

  /* campus filter as a WeUI navbar: 全部院区 + each campus; links carry ?campus_id= */
  function campusTabs(campuses, cid, pageName) {
    var items = [{ campus_id: '', name: '全部院区' }].concat(campuses || []);
    return html`<nav class="weui-navbar yw-tabs" aria-label="选择院区">${items.map(function (c) {
      var on = (c.campus_id || '') === (cid || '');
      return html`<a class="weui-navbar__item${on ? ' weui-bar__item_on' : ''}" href="${link(pageName, { campus_id: c.campus_id })}" data-campus="${c.campus_id}"${on ? html` aria-current="true"` : ''}>${c.name}</a>`;
    })}</nav>`;
  }
  /* Calls onPick(campus_id) instead of navigating; keeps the URL in step for reloads and sharing. */
  function bindTabs(el, pageName, onPick) {
    $$('.yw-tabs a', el).forEach(function (a) {
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        var cid = a.getAttribute('data-campus') || '';
        var q = new URLSearchParams(w.location.search);
        if (cid) q.set('campus_id', cid); else q.delete('campus_id');
        w.history.replaceState(null, '', pageName + (String(q) ? '?' + q : ''));
        onPick(cid);
      });
    });
  }

  /* ---- page skeleton: top bar, main area, footer ---- */
  function page(opts) {
    opts = opts || {};
    if (opts.title) setTitle(opts.title);
    render($('#app'), html`<div class="yw-top">${opts.home ? html`<span></span>` : html`<a href="index.html">‹ 返回首页</a>`}
      <button type="button" class="yw-bigbtn" id="yw-large" aria-pressed="${isLarge() ? 'true' : 'false'}"><b>A+</b>大字模式</button></div>
      <main id="yw-main"></main><div class="weui-footer yw-foot" id="yw-foot"></div>`);
    $('#yw-large').addEventListener('click', function () { setLarge(!isLarge()); });
    return $('#yw-main');
  }
  function footer(asOf) {
    var t = fmtTime(asOf);
    render($('#yw-foot'), t ? html`<p class="weui-footer__text">信息更新于 ${t}</p>` : '');
  }
  /* Runs an async loader(main) with loading, error, not-found and not-yet-synced states. */
  function run(main, loader) {
    function go() {
      render(main, loading());
      return Promise.resolve().then(function () { return loader(main); }).catch(function (e) {
        if (!(e instanceof ApiError)) {
          if (w.console) w.console.error(e); // a bug of ours: shows in the e2e tests
          e = new ApiError('CLIENT', '页面出了点问题，请稍后重试');
        }
        if (e.code === 'SYNCING') {
          msg(main, { icon: 'waiting', title: e.message, retry: go, retryText: '刷新' });
        } else if (e.status >= 400 && e.status < 500 || e.code === 'MISSING') {
          setTitle(e.status === 404 || e.code === 'MISSING' ? '未找到' : '提示');
          msg(main, { icon: 'info', title: e.message, desc: '请返回首页重新查找' });
        } else {
          msg(main, { icon: 'warn', title: '加载失败', desc: e.message, retry: go });
        }
      });
    }
    return go();
  }
  /* The id of a detail page, or throws the 'missing id' message. */
  function needId(what) {
    var id = query('id');
    if (!id) throw new ApiError('MISSING', '链接不完整，无法找到该' + what, 0);
    return id;
  }

  w.YW = {
    html: html, raw: function (s) { return new SafeHtml(String(s)); }, render: render, $: $, $$: $$,
    query: query, link: link, telHref: telHref, money: money, fmtTime: fmtTime,
    isLarge: isLarge, setLarge: setLarge, getJSON: getJSON, sendJSON: sendJSON, ApiError: ApiError, pending: pending,
    setTitle: setTitle, loading: loading, empty: empty, msg: msg, page: page, footer: footer, run: run, needId: needId,
    campusTabs: campusTabs, bindTabs: bindTabs, deptRow: deptRow, doctorRow: doctorRow, feeCells: feeCells, feeBlock: feeBlock, none: none
  };
})(window, document);
