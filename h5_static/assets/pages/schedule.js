/* 预约详情 (schedule.html?id=&reschedule=): one schedule — doctor, time, location, fee with its breakdown,
 * the online cancellation deadline, the slots once released — then the patient and 确认预约.
 * Before release: a big countdown on the server's clock; the button enables itself at release time.
 * The request key is made once per attempt and kept in sessionStorage (a reload or a double tap reuses it). */
(function (Y, B) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '预约挂号' });
  var id = Y.query('id');
  var reschedule = Y.query('reschedule');
  var chosen = { patient: '', slot: '' };
  var stopTick = null;
  var busy = false;
  var retryTimer = null;

  function locationBlock(loc) {
    return html`<div class="weui-cell"><div class="weui-cell__hd yw-label">地点</div><div class="weui-cell__bd" id="schedule-location">${loc.text}
      ${loc.description ? html`<span class="yw-desc">${loc.description}</span>` : ''}</div></div>`;
  }
  function feeBlock(s, fee) {
    var parts = (fee.components || []).map(function (c) { return c.name + ' ¥' + c.amount_text; }).join('，');
    return html`<div class="weui-cell"><div class="weui-cell__hd yw-label">挂号费</div><div class="weui-cell__bd" id="schedule-fee">
      <span class="yw-price">¥${s.fee_text}</span> <span class="yw-tag yw-tag_grey">${s.reg_type_name}</span>
      ${parts ? html`<span class="yw-desc" id="fee-components">含 ${parts}</span>` : ''}${fee.notes ? html`<span class="yw-desc">${fee.notes}</span>` : ''}</div></div>`;
  }
  function slotPicker(slots) {
    if (!slots.length) return '';
    var free = slots.filter(function (x) { return x.available; });
    if (!chosen.slot && free.length) chosen.slot = free[0].slot_id;
    return html`<div class="weui-cells__title">选择就诊时段（${free.length}个可选）</div>
      <div class="yb-slots" id="slots" role="radiogroup" aria-label="就诊时段">${slots.map(function (x) {
        var on = x.slot_id === chosen.slot;
        return html`<button type="button" class="yb-slot${on ? ' yb-slot_on' : ''}" role="radio" aria-checked="${on ? 'true' : 'false'}" data-test="slot" data-slot-id="${x.slot_id}"${x.available ? '' : html` disabled`}>
          <b>${x.window_text}</b><small>${x.available ? x.seq_no + '号' : '已约'}</small></button>`;
      })}</div>`;
  }
  function patientPicker(patients) {
    if (reschedule) return html`<div class="weui-cells__tips" id="reschedule-note">改约：就诊人不变，确认后原预约自动取消。</div>`;
    if (patients === null) return html`<div id="patients">${Y.loading('正在读取就诊人…')}</div>`;
    if (!patients.length) {
      return html`<div class="yb-note" id="patients" role="status">请先绑定就诊卡，再预约挂号。
        <a class="weui-btn weui-btn_primary yb-inline-btn" href="cards.html" data-test="bind-card">去绑定就诊卡</a></div>`;
    }
    if (!chosen.patient || !patients.some(function (p) { return p.patient_id === chosen.patient; })) chosen.patient = patients[0].patient_id;
    return html`<div class="weui-cells__title">就诊人</div><div class="weui-cells weui-cells_radio" id="patients">${patients.map(function (p) {
      return html`<label class="weui-cell weui-check__label" data-test="patient"><div class="weui-cell__bd">${p.label}${p.relation_name ? '（' + p.relation_name + '）' : ''}</div>
        <div class="weui-cell__ft"><input type="radio" class="weui-check" name="patient" value="${p.patient_id}"${p.patient_id === chosen.patient ? html` checked` : ''}><span class="weui-icon-checked"></span></div></label>`;
    })}</div>`;
  }

  function statusBox(s) {
    if (s.stopped) return html`<div class="yb-stopbox" id="stop-message" data-test="stop-message" role="alert"><b>停诊</b>${s.stop_message}</div>`;
    if (!s.released) {
      return html`<div class="yb-countdown yb-countdown_big" id="release-countdown" data-test="release-countdown" role="timer">
        <span>${B.releaseText(s.release_at)}</span><strong id="release-left">${B.countdownText(B.msUntil(s.release_at))}</strong>
        <small>放号后才能预约，届时按钮会自动变为可点</small></div>`;
    }
    if (s.status === 'full') return html`<div class="yb-note" id="full-note" role="status">该时段号源已约满，可排队候补：有人退号时会通知您。</div>`;
    if (!s.bookable) return html`<div class="yb-note" role="status">${s.status_name}，请选择其他时间。</div>`;
    return '';
  }

  function actionArea(s, patients) {
    var canAct = !s.stopped && patients !== null && (reschedule || patients.length);
    if (!canAct) return html`<div id="action"></div>`;
    if (s.released && s.status === 'full' && !reschedule) {
      return html`<div id="action"><p class="weui-btn-area"><button type="button" class="weui-btn weui-btn_primary" id="join-waitlist" data-test="join-waitlist">排队候补</button></p></div>`;
    }
    var ready = s.released && s.bookable;
    var label = reschedule ? '确认改约' : '确认预约';
    return html`<div id="action"><div id="book-error"></div><p class="weui-btn-area">
      <button type="button" class="weui-btn weui-btn_primary" id="confirm-booking" data-test="confirm-booking"${ready ? '' : html` disabled aria-disabled="true"`}>${ready ? label : '未到放号时间'}</button></p></div>`;
  }

  function render(d, patients) {
    var s = d.schedule;
    Y.setTitle((s.doctor_name || s.department_name) + ' - 预约挂号');
    Y.render(main, html`
      ${d.live ? '' : html`<div class="yw-asof" id="as-of" role="status">医院系统暂时无法连接，以下是 ${Y.fmtTime(d.as_of)} 查询到的信息，可能不是最新。</div>`}
      <div class="yw-hero"><h1 id="schedule-title">${s.doctor_name ? s.doctor_name : s.department_name + ' 普通门诊'}${s.doctor_title_name ? html` <span class="yw-tag yw-tag_grey">${s.doctor_title_name}</span>` : ''}</h1>
        <p>${s.department_name} · ${s.reg_type_name}</p></div>
      ${statusBox(s)}
      <div class="weui-cells">
        <div class="weui-cell"><div class="weui-cell__hd yw-label">时间</div><div class="weui-cell__bd" id="schedule-when">${B.whenText(s)} ${B.hm(s.start_time)}-${B.hm(s.end_time)}</div></div>
        ${locationBlock(s.location)}
        ${feeBlock(s, d.fee || {})}
        <div class="weui-cell"><div class="weui-cell__hd yw-label">退号</div><div class="weui-cell__bd" id="cancel-deadline">${B.deadlineText(s.cancel_deadline)}<span class="yw-desc">之后只能到医院窗口办理</span></div></div>
        ${s.released && !s.stopped && s.status !== 'full' && s.remaining != null ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">余号</div><div class="weui-cell__bd" id="remaining">${s.remaining} / ${s.capacity}</div></div>` : ''}
      </div>
      ${s.bookable ? slotPicker(d.slots || []) : ''}
      ${s.bookable && !d.slots_known ? html`<div class="weui-cells__tips">暂时无法显示具体时段，预约后由医院分配号序。</div>` : ''}
      ${s.stopped ? '' : patientPicker(patients)}
      ${actionArea(s, patients)}
      <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="${Y.link('booking.html', { department_id: s.department_id, reschedule: reschedule })}" data-test="back-to-department">返回${s.department_name}</a></p>`);
    Y.footer(d.as_of);
    bind(d, patients);
  }

  function showError(text, extra) {
    var box = Y.$('#book-error');
    if (box) Y.render(box, html`<div class="yb-error" id="booking-refusal" data-test="booking-refusal" role="alert">${text}${extra || ''}</div>`);
  }

  function attemptScope(s) { return (reschedule ? 'resched:' + reschedule : 'book:' + chosen.patient) + ':' + s.schedule_id + ':' + (chosen.slot || '-'); }

  async function book(d, button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    var s = d.schedule;
    var scope = attemptScope(s);
    var key = B.requestKey(scope);
    Y.render(Y.$('#book-error'), '');
    try {
      var body = { schedule_id: s.schedule_id, request_key: key };
      if (chosen.slot) body.slot_id = chosen.slot;
      var res;
      if (reschedule) res = await Y.sendJSON('POST', '/api/appointments/' + encodeURIComponent(reschedule) + '/reschedule', body);
      else { body.patient_id = chosen.patient; res = await Y.sendJSON('POST', '/api/appointments', body); }
      B.forgetKey(scope);
      window.location.href = Y.link('appointment.html', { id: res.appointment.appointment_id });
    } catch (e) {
      busy = false;
      var wait = e.body && e.body.retry_after ? Number(e.body.retry_after) : 2;
      if (e.code === 'SLOTS_PREPARING' || e.code === 'TOO_MANY_REQUESTS') {
        wait = Math.max(1, Math.min(wait || 2, 30));
        showError((e.code === 'SLOTS_PREPARING' ? '号源正在准备中' : '当前预约人数较多') + '，' + wait + '秒后自动重试…');
        retryTimer = setTimeout(function () { book(d, button); }, wait * 1000);
        return;
      }
      button.disabled = false;
      if (e.status >= 400 && e.status < 500 && e.status !== 408) B.forgetKey(scope); // refused: the next tap is a new attempt
      if (e.code === 'SCHEDULE_FULL') {
        showError(e.message, reschedule ? '' : html`<p><button type="button" class="weui-btn weui-btn_default yb-inline-btn" data-test="join-waitlist" id="join-waitlist-after">排队候补</button></p>`);
        var w = Y.$('#join-waitlist-after');
        if (w) w.addEventListener('click', function () { joinWaitlist(s, w); });
        return;
      }
      if (e.code === 'NOT_RELEASED') { showError(e.message || '还未到放号时间'); setTimeout(load, 2000); return; }
      showError(e.message || '预约失败，请稍后重试');
    }
  }

  async function joinWaitlist(s, button) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    try {
      await Y.sendJSON('POST', '/api/schedules/' + encodeURIComponent(s.schedule_id) + '/waitlist', { patient_id: chosen.patient });
      window.location.href = 'waitlist.html';
    } catch (e) {
      busy = false;
      button.disabled = false;
      if (!Y.$('#book-error')) Y.$('#action').insertAdjacentHTML('afterbegin', '<div id="book-error"></div>');
      showError(e.message || '加入候补失败，请稍后重试');
    }
  }

  function bind(d, patients) {
    var s = d.schedule;
    Y.$$('[data-test="slot"]', main).forEach(function (b) {
      b.addEventListener('click', function () {
        chosen.slot = b.getAttribute('data-slot-id');
        Y.$$('[data-test="slot"]', main).forEach(function (x) {
          var on = x === b;
          x.classList.toggle('yb-slot_on', on);
          x.setAttribute('aria-checked', on ? 'true' : 'false');
        });
      });
    });
    Y.$$('input[name="patient"]', main).forEach(function (r) { r.addEventListener('change', function () { chosen.patient = r.value; }); });
    var btn = Y.$('#confirm-booking', main);
    if (btn) btn.addEventListener('click', function () { book(d, btn); });
    var wl = Y.$('#join-waitlist', main);
    if (wl) wl.addEventListener('click', function () { joinWaitlist(s, wl); });
    if (stopTick) stopTick();
    if (!s.released && !s.stopped) {
      var reloaded = false;
      stopTick = B.every(function () {
        var out = Y.$('#release-left');
        if (!out) return false;
        var left = B.msUntil(s.release_at);
        out.textContent = B.countdownText(left);
        if (left <= 0 && !reloaded) { reloaded = true; setTimeout(load, 1000); return false; } // ask the server: it decides
        return true;
      });
    }
    if (patients === null && !reschedule) loadPatients(d);
  }

  var patientsCache = null;
  async function loadPatients(d) {
    try {
      patientsCache = (await Y.getJSON('/api/patients')).items || [];
    } catch (e) {
      Y.render(Y.$('#patients'), html`<div class="weui-cells__tips yb-error" role="alert">${e.message || '就诊人读取失败'}</div>`);
      return;
    }
    render(d, patientsCache);
  }

  var notReleasedRetries = 0;
  function load() {
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    return Y.run(main, async function () {
      if (!id) throw new Y.ApiError('MISSING', '链接不完整，无法找到该排班', 0);
      var d = await Y.getJSON('/api/schedules/' + encodeURIComponent(id));
      B.syncClock(d.server_time);
      var s = d.schedule;
      // the server decides release: if our countdown ran out a little early, ask again shortly
      if (!s.released && !s.stopped && B.msUntil(s.release_at) <= 0 && notReleasedRetries < 10) {
        notReleasedRetries++;
        setTimeout(load, 2000);
      }
      render(d, reschedule ? [] : patientsCache);
    });
  }
  load();
})(window.YW, window.YB);
