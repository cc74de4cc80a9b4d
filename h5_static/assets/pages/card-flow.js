/* Shared by 添加就诊人 and 在线建档: form helpers and the steps after the form — waiting for the hospital,
 * entering the SMS code (with 重新获取), done or failed — for one bind request (?request=<id> keeps it on reload).
 * Exposes window.YWCard. */
(function (w, Y) {
  'use strict';
  var html = Y.html;
  var POLL_MS = 1500;

  /* A form row: label + input/select. attrs is raw (trusted, written here). */
  function row(label, id, control) {
    return html`<div class="weui-cell weui-cell_active" data-row="${id}"><div class="weui-cell__hd"><label class="weui-label" for="${id}">${label}</label></div>
      <div class="weui-cell__bd">${control}</div></div>`;
  }
  function input(id, attrs) { return Y.raw('<input class="weui-input" id="' + id + '" name="' + id + '" ' + attrs + '>'); }
  function select(id, options, chosen) {
    return html`<select class="weui-select" id="${id}" name="${id}">${options.map(function (o) {
      return html`<option value="${o.value}"${o.value === chosen ? Y.raw(' selected') : ''}>${o.name}</option>`;
    })}</select>`;
  }
  function value(id) { var el = Y.$('#' + id); return el ? el.value.trim() : ''; }

  /* Shows a refusal from the server above the form, marking the field it names. */
  function formError(box, form, e) {
    Y.$$('.yw-field-error', form).forEach(function (r) { r.classList.remove('yw-field-error'); });
    var field = e && e.body && e.body.field;
    if (field) {
      var rowEl = Y.$('[data-row="' + String(field).replace(/[^a-z_.]/g, '').replace('guardian.', 'guardian_') + '"]', form);
      if (rowEl) rowEl.classList.add('yw-field-error');
    }
    var msg = e instanceof Y.ApiError ? e.message : '页面出了点问题，请稍后重试';
    Y.render(box, html`<div class="yw-alert" role="alert" id="form-error">${msg}</div>`);
    box.scrollIntoView({ block: 'center' });
  }

  function keepInUrl(requestId) {
    var q = new URLSearchParams(w.location.search);
    q.set('request', requestId);
    w.history.replaceState(null, '', w.location.pathname.split('/').pop() + '?' + q);
  }

  /* Follows one bind request in `main` until it is done or failed. */
  function track(main, request, opts) {
    opts = opts || {};
    var path = '/api/cards/bind-requests/' + encodeURIComponent(request.request_id);
    var timer = null;
    keepInUrl(request.request_id);

    function again(r, ms) { clearTimeout(timer); timer = setTimeout(function () { refresh(r); }, ms); }
    async function refresh() {
      try { show((await Y.getJSON(path)).request); } catch (e) { problem(e); }
    }
    function problem(e) {
      var msg = e instanceof Y.ApiError ? e.message : '页面出了点问题，请稍后重试';
      if (e instanceof Y.ApiError && e.status === 404) {
        Y.msg(main, { icon: 'info', title: msg, home: false, retry: function () { w.location.href = 'card-bind.html'; }, retryText: '重新添加' });
        return;
      }
      Y.msg(main, { icon: 'warn', title: '网络不太好', desc: msg, home: false, retry: refresh, retryText: '刷新' });
    }

    function show(r) {
      clearTimeout(timer);
      if (r.state === 'pending' || r.state === 'creating') {
        Y.render(main, Y.loading(r.state === 'pending' ? '正在向医院核对信息…' : (r.slow ? '医院仍在办理，请稍候，也可以稍后在就诊人列表查看' : '正在为您建档…')));
        again(r, POLL_MS);
      } else if (r.state === 'code_sent') {
        codeStep(r);
      } else if (r.state === 'done') {
        var cards = (r.patient && r.patient.cards) || [];
        Y.render(main, html`<div class="weui-msg yw-msg" role="status" id="bind-done">
          <div class="weui-msg__icon-area"><i class="weui-icon-success weui-icon_msg"></i></div>
          <div class="weui-msg__text-area"><h2 class="weui-msg__title">${r.method === 'create' ? '建档成功' : '添加成功'}</h2>
          <p class="weui-msg__desc">${r.label}（${r.relation_name}）已添加到您的就诊人。</p>
          ${cards.map(function (c) { return html`<p class="weui-msg__desc">${c.card_type_name}：${c.card_no_masked}</p>`; })}</div>
          <div class="weui-msg__opr-area"><p class="weui-btn-area"><a class="weui-btn weui-btn_primary" href="cards.html?added=1" id="to-family">查看我的就诊人</a></p></div></div>`);
      } else {
        failedStep(r);
      }
    }

    function failedStep(r) {
      var actions = [];
      if (r.error_code === 'PATIENT_NOT_FOUND') actions.push(html`<a class="weui-btn weui-btn_primary" id="to-create" href="${Y.link('card-create.html', { relation: r.relation })}">在线建档</a>`);
      if (r.error_code === 'ALREADY_REGISTERED') actions.push(html`<a class="weui-btn weui-btn_primary" id="to-bind" href="${Y.link('card-bind.html', { relation: r.relation })}">用已有就诊卡绑定</a>`);
      actions.push(html`<a class="weui-btn weui-btn_default" href="${opts.restart || 'card-bind.html'}" id="restart">重新填写</a>`);
      actions.push(html`<a class="weui-btn weui-btn_default" href="cards.html">返回就诊人列表</a>`);
      Y.render(main, html`<div class="weui-msg yw-msg" role="alert" id="bind-failed">
        <div class="weui-msg__icon-area"><i class="weui-icon-info weui-icon_msg"></i></div>
        <div class="weui-msg__text-area"><h2 class="weui-msg__title">${r.error_code === 'PATIENT_NOT_FOUND' ? '未找到建档记录' : '未能添加'}</h2>
        <p class="weui-msg__desc" id="fail-message">${r.message || '未能添加，请稍后重试'}</p></div>
        <div class="weui-msg__opr-area"><p class="weui-btn-area">${actions}</p></div></div>`);
    }

    function codeStep(r) {
      var toWhom = r.method === 'create' ? '您填写的手机号' : '您在医院登记的手机号';
      Y.render(main, html`
        <div class="weui-cells__title yw-h2">输入短信验证码</div>
        <p class="yw-hint" id="code-hint">${r.sms_failed ? '验证码短信未能发出，请点击“重新获取”。' : html`验证码已发送至${toWhom} <b>${r.phone_masked || ''}</b>，5分钟内有效。`}</p>
        <p class="yw-hint">就诊人：${r.label}（${r.relation_name}）${r.id_tail ? '，证件尾号' + r.id_tail : ''}</p>
        <form class="weui-cells weui-cells_form yw-form" id="code-form" novalidate>
          <div class="weui-cell weui-cell_active weui-cell_vcode" data-row="code"><div class="weui-cell__hd"><label class="weui-label" for="code">验证码</label></div>
            <div class="weui-cell__bd">${input('code', 'class="weui-input yw-code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6" pattern="[0-9]*" placeholder="6位数字"')}</div>
            <div class="weui-cell__ft"><button type="button" class="yw-resend" id="resend"></button></div></div>
        </form>
        <div id="code-error"></div>
        <div class="yw-actions"><button type="submit" form="code-form" class="weui-btn weui-btn_primary" id="verify">确定</button>
          <a class="weui-btn weui-btn_default" href="cards.html">取消</a></div>`);
      var resend = Y.$('#resend');
      var left = r.resend_in;
      function tick() {
        if (left == null) { resend.disabled = true; resend.textContent = '已达获取上限'; return; }
        resend.disabled = left > 0;
        resend.textContent = left > 0 ? left + '秒后重新获取' : '重新获取';
        if (left > 0) { left -= 1; timer = setTimeout(tick, 1000); }
      }
      tick();
      resend.addEventListener('click', async function () {
        resend.disabled = true;
        try { show((await Y.sendJSON('POST', path + '/resend', {})).request); } catch (e) { codeError(e); resend.disabled = false; }
      });
      Y.$('#code-form').addEventListener('submit', async function (ev) {
        ev.preventDefault();
        var code = value('code').replace(/\s/g, '');
        if (!/^\d{6}$/.test(code)) { codeError(new Y.ApiError('BAD_REQUEST', '请输入6位数字验证码', 400)); return; }
        var btn = Y.$('#verify');
        btn.disabled = true;
        try {
          show((await Y.sendJSON('POST', path + '/verify', { code: code })).request);
        } catch (e) {
          btn.disabled = false;
          if (e instanceof Y.ApiError && e.status === 409 && e.code !== 'CODE_EXPIRED') { refresh(); return; }
          codeError(e);
        }
      });
      Y.$('#code').focus();
    }
    function codeError(e) {
      var msg = e instanceof Y.ApiError ? e.message : '页面出了点问题，请稍后重试';
      Y.render(Y.$('#code-error'), html`<div class="yw-alert" role="alert" id="code-message">${msg}</div>`);
    }

    show(request);
  }

  /* Resumes a request named in the URL; false if there is none. */
  async function resume(main, opts) {
    var id = Y.query('request');
    if (!id) return false;
    try {
      track(main, (await Y.getJSON('/api/cards/bind-requests/' + encodeURIComponent(id))).request, opts);
      return true;
    } catch (e) {
      if (e instanceof Y.ApiError && e.status === 404) return false; // expired: start again
      throw e;
    }
  }

  /* Loads the family list and refuses early when no patient can be added now. */
  async function precheck(main) {
    var data = await Y.getJSON('/api/cards');
    if ((data.items || []).length >= data.max_patients) {
      Y.msg(main, { icon: 'info', title: '就诊人已满', desc: '每个微信账号最多添加' + data.max_patients + '位就诊人，请先解绑不再需要的就诊人。', home: false, retry: function () { w.location.href = 'cards.html'; }, retryText: '返回就诊人列表' });
      return null;
    }
    if (data.binds_left_today <= 0) {
      Y.msg(main, { icon: 'info', title: '今天的添加次数已用完', desc: '请明天再试，或到门诊服务台办理。', home: false, retry: function () { w.location.href = 'cards.html'; }, retryText: '返回就诊人列表' });
      return null;
    }
    var hasSelf = (data.items || []).some(function (m) { return m.relation === 'self'; });
    data.relationOptions = data.relations.filter(function (r) { return !(hasSelf && r.value === 'self'); });
    return data;
  }

  w.YWCard = { row: row, input: input, select: select, value: value, formError: formError, track: track, resume: resume, precheck: precheck };
})(window, window.YW);
