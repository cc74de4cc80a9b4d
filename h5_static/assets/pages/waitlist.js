/* 我的候补 (waitlist.html): the user's waitlist entries — place in line, an offer with its expiry countdown
 * and 立即预约 (claims the offer, then the appointment page), and 退出候补. */
(function (Y, B) {
  'use strict';
  var html = Y.html;
  var STATES = { waiting: '排队中', offered: '有号可约', claimed: '已预约', expired: '已过期', left: '已退出' };
  var main = Y.page({ title: '我的候补' });
  var stopTick = null;
  var busy = false;

  function entry(e) {
    var s = e.schedule || {};
    var offer = e.state === 'offered' && e.offer ? e.offer : null;
    return html`<div class="weui-cells yb-wait" data-test="waitlist-entry" data-schedule-id="${e.schedule_id}" data-patient-id="${e.patient ? e.patient.patient_id : ''}" data-state="${e.state}">
      <div class="weui-cell"><div class="weui-cell__bd"><span class="yb-appt-title">${s.department_name || ''} · ${s.doctor_name || '普通门诊'}</span>
        <span class="yw-desc">${B.md(s.date)} ${B.weekday(s.date)} ${s.session_name || ''}</span>
        <span class="yw-desc">就诊人：${e.patient ? e.patient.label : ''}</span></div>
        <div class="weui-cell__ft yw-ft"><span class="yw-state-tag">${STATES[e.state] || e.state}</span></div></div>
      ${e.state === 'waiting' && e.place ? html`<div class="weui-cell"><div class="weui-cell__bd" data-test="waitlist-place">当前排在第 <b>${e.place}</b> 位，有人退号时按顺序通知。</div></div>` : ''}
      ${offer ? html`<div class="weui-cell yb-offer"><div class="weui-cell__bd">已为您保留一个号，请在 <b class="yb-offer-left" data-expires-at="${offer.expires_at}">${B.countdownText(B.msUntil(offer.expires_at))}</b> 内预约，过时将让给下一位。
        <div class="yb-entry-error"></div>
        <button type="button" class="weui-btn weui-btn_primary yb-inline-btn" data-test="claim-offer" data-offer-id="${offer.offer_id}">立即预约</button></div></div>` : ''}
      ${e.state === 'waiting' || e.state === 'offered' ? html`<div class="weui-cell"><div class="weui-cell__bd"><button type="button" class="weui-btn weui-btn_default weui-btn_mini" data-test="leave-waitlist">退出候补</button></div></div>` : ''}
    </div>`;
  }

  function entryError(box, e, fallback) {
    var out = Y.$('.yb-entry-error', box) || box;
    if (out === box) box.insertAdjacentHTML('beforeend', '<div class="yb-entry-error"></div>');
    Y.render(Y.$('.yb-entry-error', box), html`<div class="yb-error" role="alert" data-test="waitlist-error">${(e && e.message) || fallback}</div>`);
  }

  async function claim(button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    var offerId = button.getAttribute('data-offer-id');
    var scope = 'claim:' + offerId;
    try {
      var res = await Y.sendJSON('POST', '/api/waitlist/offers/' + encodeURIComponent(offerId) + '/claim', { request_key: B.requestKey(scope) });
      B.forgetKey(scope);
      window.location.href = Y.link('appointment.html', { id: res.appointment.appointment_id });
    } catch (e) {
      busy = false;
      button.disabled = false;
      if (e.status >= 400 && e.status < 500) B.forgetKey(scope);
      entryError(button.closest('.yb-wait'), e, '预约失败，请稍后重试');
    }
  }

  async function leave(button) {
    if (busy) return;
    var box = button.closest('.yb-wait');
    if (!(await B.confirmDialog(Y, '退出候补', '退出后将不再为您保留排队位置，确定退出吗？', '确定退出'))) return;
    busy = true;
    button.disabled = true;
    try {
      await Y.sendJSON('DELETE', '/api/schedules/' + encodeURIComponent(box.getAttribute('data-schedule-id')) + '/waitlist/' +
        encodeURIComponent(box.getAttribute('data-patient-id')));
      busy = false;
      load();
    } catch (e) {
      busy = false;
      button.disabled = false;
      entryError(box, e, '退出失败，请稍后重试');
    }
  }

  function load() {
    return Y.run(main, async function () {
      var items = (await Y.getJSON('/api/waitlist')).items || [];
      Y.render(main, html`<div class="weui-cells__tips yb-legend">号源约满时可排队候补；有人退号时按排队顺序通知，收到通知后请尽快预约。</div>
        <div id="waitlist">${items.length ? items.map(entry) : Y.empty('您还没有候补排队')}</div>
        <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="appointments.html" data-test="my-appointments">我的预约</a></p>`);
      Y.$$('[data-test="claim-offer"]', main).forEach(function (b) { b.addEventListener('click', function () { claim(b); }); });
      Y.$$('[data-test="leave-waitlist"]', main).forEach(function (b) { b.addEventListener('click', function () { leave(b); }); });
      if (stopTick) stopTick();
      stopTick = B.every(function () {
        var left = Y.$$('.yb-offer-left', main);
        left.forEach(function (el) { el.textContent = B.countdownText(B.msUntil(el.getAttribute('data-expires-at'))); });
        return left.length > 0;
      });
    });
  }
  load();
})(window.YW, window.YB);
