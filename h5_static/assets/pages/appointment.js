/* 预约详情 (appointment.html?id=): the state with what happens now, polled every 1.5 s until it is final
 * (or waiting for payment: then 去支付), the full detail with wayfinding, 取消预约 (with a confirm dialog)
 * while cancellable, and 改约 (back to booking for the same department with reschedule=<id>). */
(function (Y, B) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '预约详情' });
  var id = Y.query('id');
  var POLL_MS = 1500;
  var pollTimer = null;
  var stopTick = null;
  var busy = false;
  var paidAt = 0; // after paying, keep following the appointment until the server has seen the payment
  var PAID_WAIT_MS = 60000;
  var ICONS = {
    holding: 'waiting', confirming: 'waiting', cancelling: 'waiting', awaiting_payment: 'info',
    confirmed: 'success', checked_in: 'success', completed: 'success',
    cancelled: 'info', expired: 'info', failed: 'warn', no_show: 'warn'
  };
  var ICON_CLASS = { waiting: 'weui-icon-waiting', info: 'weui-icon-info', success: 'weui-icon-success', warn: 'weui-icon-warn' };

  function row(label, value, idAttr) {
    return value ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">${label}</div><div class="weui-cell__bd"${idAttr ? html` id="${idAttr}"` : ''}>${value}</div></div>` : '';
  }
  function when(a) {
    var slot = a.slot ? a.slot.window_text : '';
    return B.md(a.date) + ' ' + B.weekday(a.date) + ' ' + (a.session_name || '') + (slot ? ' ' + slot : '');
  }

  function render(a) {
    var icon = ICONS[a.state] || 'info';
    var loc = a.location || {};
    var who = a.doctor_name ? a.doctor_name + (a.doctor_title_name ? '（' + a.doctor_title_name + '）' : '') : '普通门诊';
    Y.render(main, html`
      <div class="yb-state yb-state-${a.state}" id="appointment-state" data-test="appointment-state" data-state="${a.state}" role="status" aria-live="polite">
        <i class="${ICON_CLASS[icon]} weui-icon_msg" aria-hidden="true"></i>
        <h1 id="state-text">${a.state_text}</h1>
        ${a.message ? html`<p id="state-message">${a.message}</p>` : ''}
        ${a.final || a.state === 'awaiting_payment' ? '' : html`<p class="yw-desc">正在与医院确认，请稍候…</p>`}
      </div>
      ${a.state === 'awaiting_payment' ? html`<div class="yb-pay"><p>请在 <b id="pay-by">${B.mdhm(a.pay_by)}</b> 前完成支付（剩余 <b id="pay-left">${B.countdownText(B.msUntil(a.pay_by))}</b>），逾期号源将自动释放。</p>
        <div id="pay-error"></div>
        <p class="weui-btn-area"><button type="button" class="weui-btn weui-btn_primary" id="pay" data-test="pay">去支付 ¥${a.fee_text}</button></p></div>` : ''}
      <div class="weui-cells">
        ${row('就诊人', a.patient ? a.patient.label + (a.patient.relation_name ? '（' + a.patient.relation_name + '）' : '') : '', 'appointment-patient')}
        ${row('科室', a.department_name, 'appointment-department')}
        ${row('医生', who + (a.reg_type_name ? ' · ' + a.reg_type_name : ''), 'appointment-doctor')}
        ${row('时间', when(a), 'appointment-when')}
        ${a.slot ? row('号序', '第' + a.slot.seq_no + '号', 'appointment-seq') : ''}
        ${loc.text ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">地点</div><div class="weui-cell__bd" id="appointment-location">${loc.text}${loc.description ? html`<span class="yw-desc">${loc.description}</span>` : ''}</div></div>` : ''}
        ${row('挂号费', a.fee_text ? '¥' + a.fee_text : '', 'appointment-fee')}
        ${a.cancel_deadline ? row('退号', B.deadlineText(a.cancel_deadline), 'appointment-deadline') : ''}
        ${row('预约时间', Y.fmtTime(a.created_at), '')}
      </div>
      <div id="action-error"></div>
      <p class="weui-btn-area">
        ${a.cancellable ? html`<button type="button" class="weui-btn weui-btn_default" id="cancel" data-test="cancel-appointment">取消预约</button>
          <button type="button" class="weui-btn weui-btn_default" id="reschedule" data-test="reschedule-appointment">改约</button>` : ''}
        <a class="weui-btn weui-btn_default" href="appointments.html" data-test="to-appointments">我的预约</a>
      </p>`);
    bind(a);
  }

  function bind(a) {
    if (stopTick) { stopTick(); stopTick = null; }
    if (a.state === 'awaiting_payment' && a.pay_by) {
      stopTick = B.every(function () {
        var out = Y.$('#pay-left');
        if (!out) return false;
        out.textContent = B.countdownText(B.msUntil(a.pay_by));
        return true;
      });
    }
    var pay = Y.$('#pay');
    if (pay) pay.addEventListener('click', function () { startPayment(a, pay); });
    var cancel = Y.$('#cancel');
    if (cancel) cancel.addEventListener('click', function () { askCancel(a, cancel); });
    var again = Y.$('#reschedule');
    if (again) again.addEventListener('click', function () { goReschedule(a, again); });
  }

  function actionError(box, e, fallback) {
    Y.render(Y.$(box), html`<div class="yb-error" data-test="action-error" role="alert">${(e && e.message) || fallback}</div>`);
  }

  async function startPayment(a, button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    try {
      var res = await Y.sendJSON('POST', '/api/payments/registration', { appointment_id: a.appointment_id });
      var outcome = await Y.wcpay(res);
      busy = false;
      button.disabled = false;
      if (outcome === 'unavailable') { actionError('#pay-error', null, '请在微信中打开本页面完成支付'); return; }
      if (outcome === 'cancel') return;
      // whatever WeChat says, the server decides: follow the appointment until the payment is seen
      paidAt = Date.now();
      poll(0);
    } catch (e) {
      busy = false;
      button.disabled = false;
      actionError('#pay-error', e, '暂时无法发起支付，请稍后重试');
    }
  }

  async function askCancel(a, button) {
    if (busy) return;
    var text = '取消后号源将释放给其他患者' + (a.needs_payment || a.fee_fen ? '，已支付的挂号费将原路退回' : '') + '。确定取消吗？';
    if (!(await B.confirmDialog(Y, '取消预约', text, '确定取消'))) return;
    busy = true;
    button.disabled = true;
    try {
      var res = await Y.sendJSON('POST', '/api/appointments/' + encodeURIComponent(a.appointment_id) + '/cancel', {});
      busy = false;
      show(res.appointment);
    } catch (e) {
      busy = false;
      button.disabled = false;
      actionError('#action-error', e, '取消失败，请稍后重试');
    }
  }

  async function goReschedule(a, button) {
    button.disabled = true;
    var dept = a.department_id;
    try {
      if (!dept) dept = (await Y.getJSON('/api/schedules/' + encodeURIComponent(a.schedule_id))).schedule.department_id;
      window.location.href = Y.link('booking.html', { department_id: dept, reschedule: a.appointment_id });
    } catch (e) {
      button.disabled = false;
      actionError('#action-error', e, '暂时无法改约，请稍后重试');
    }
  }

  function show(a) {
    render(a);
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    var waitingForPayment = a.state === 'awaiting_payment' && paidAt && Date.now() - paidAt < PAID_WAIT_MS;
    if (!a.final && (a.state !== 'awaiting_payment' || waitingForPayment)) pollTimer = setTimeout(function () { poll(0); }, POLL_MS);
  }

  async function poll(failures) {
    pollTimer = null;
    try {
      show((await Y.getJSON('/api/appointments/' + encodeURIComponent(id))).appointment);
    } catch (e) {
      if (e.status === 404 || failures >= 5) { actionError('#action-error', e, '暂时无法刷新，请稍后下拉刷新页面'); return; }
      pollTimer = setTimeout(function () { poll(failures + 1); }, POLL_MS * 2);
    }
  }

  Y.run(main, async function () {
    if (!id) throw new Y.ApiError('MISSING', '链接不完整，无法找到该预约', 0);
    show((await Y.getJSON('/api/appointments/' + encodeURIComponent(id))).appointment);
  });
})(window.YW, window.YB);
