/* 我的预约 (appointments.html?view=upcoming|past|cancelled): the user's appointments by tab, each opening its detail. */
(function (Y, B) {
  'use strict';
  var html = Y.html;
  var VIEWS = [['upcoming', '待就诊'], ['past', '已就诊/过期'], ['cancelled', '已取消']];
  var EMPTY = { upcoming: '没有待就诊的预约', past: '没有以往的预约', cancelled: '没有已取消的预约' };
  var main = Y.page({ title: '我的预约' });
  var view = VIEWS.some(function (v) { return v[0] === Y.query('view'); }) ? Y.query('view') : 'upcoming';

  function row(a) {
    var who = a.doctor_name ? a.doctor_name + (a.doctor_title_name ? ' ' + a.doctor_title_name : '') : '普通门诊';
    var slot = a.slot ? ' ' + a.slot.window_text : '';
    return html`<a class="weui-cell weui-cell_access yb-appt" data-test="appointment-row" data-id="${a.appointment_id}" data-state="${a.state}" href="${Y.link('appointment.html', { id: a.appointment_id })}">
      <div class="weui-cell__bd"><span class="yb-appt-title">${a.department_name} · ${who}</span>
        <span class="yw-desc">${B.md(a.date)} ${B.weekday(a.date)} ${a.session_name || ''}${slot}</span>
        <span class="yw-desc">就诊人：${a.patient ? a.patient.label : ''}</span></div>
      <div class="weui-cell__ft yw-ft"><span class="yw-state-tag yb-tag-${a.state}">${a.state_text}</span></div></a>`;
  }

  async function list() {
    var box = Y.$('#appointment-list');
    Y.render(box, Y.loading());
    try {
      var items = (await Y.getJSON(Y.link('/api/appointments', { view: view }))).items || [];
      Y.render(box, html`<div class="weui-cells" id="appointments">${items.length ? items.map(row) : Y.none(EMPTY[view])}</div>`);
    } catch (e) {
      Y.render(box, html`<div class="yw-state" role="alert"><p class="weui-msg__desc" id="list-error">${e.message || '加载失败'}</p>
        <p class="weui-btn-area"><button type="button" class="weui-btn weui-btn_primary" id="list-retry">重新加载</button></p></div>`);
      Y.$('#list-retry').addEventListener('click', list);
    }
  }

  Y.render(main, html`<nav class="weui-navbar yw-tabs" aria-label="预约类别">${VIEWS.map(function (v) {
      var on = v[0] === view;
      return html`<a class="weui-navbar__item${on ? ' weui-bar__item_on' : ''}" href="${Y.link('appointments.html', { view: v[0] })}" data-view="${v[0]}" data-test="view-tab"${on ? html` aria-current="true"` : ''}>${v[1]}</a>`;
    })}</nav>
    <div id="appointment-list"></div>
    <p class="weui-btn-area"><a class="weui-btn weui-btn_primary" href="booking.html" data-test="new-booking">预约挂号</a>
      <a class="weui-btn weui-btn_default" href="waitlist.html" data-test="my-waitlist">我的候补</a></p>`);
  Y.$$('[data-view]', main).forEach(function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      view = a.getAttribute('data-view');
      Y.$$('[data-view]', main).forEach(function (x) {
        var on = x === a;
        x.classList.toggle('weui-bar__item_on', on);
        if (on) x.setAttribute('aria-current', 'true'); else x.removeAttribute('aria-current');
      });
      window.history.replaceState(null, '', Y.link('appointments.html', { view: view }));
      list();
    });
  });
  list();
})(window.YW, window.YB);
