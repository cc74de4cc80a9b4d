/* 预约挂号 (?campus_id=&department_id=&doctor_id=&reschedule=):
 * without a department: campus tabs, doctor search and the departments;
 * with a department (or a doctor): its doctors and the department pool, each with the schedules of the release
 * window as a date × session grid (remaining, fee, 停诊, 约满/候补, not yet released with its release time),
 * and a countdown to the next release on the server's clock. */
(function (Y, B) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '预约挂号' });
  var state = {
    campus: Y.query('campus_id'), department: Y.query('department_id'), doctor: Y.query('doctor_id'),
    reschedule: Y.query('reschedule')
  };
  var stopTick = null;

  function selfLink(params) {
    return Y.link('booking.html', Object.assign({ reschedule: state.reschedule }, params));
  }
  function myLinks() {
    return html`<div class="yb-mylinks"><a href="appointments.html" data-test="my-appointments">我的预约</a><a href="waitlist.html" data-test="my-waitlist">我的候补</a></div>`;
  }
  function rescheduleNote() {
    return state.reschedule ? html`<div class="yb-note" id="reschedule-note" role="status">正在改约：请选择新的就诊时间，确认后原预约自动取消。</div>` : '';
  }

  /* ---- the entry: campuses, doctor search, departments ---- */
  function deptRow(dep, showCampus) {
    var where = [showCampus ? dep.campus_name : '', dep.location_text].filter(Boolean).join(' · ');
    return html`<a class="weui-cell weui-cell_access yw-dept" data-test="department" data-id="${dep.department_id}" href="${selfLink({ department_id: dep.department_id })}">
      <div class="weui-cell__bd"><span class="yw-dept-name">${dep.name}</span>${dep.restriction ? html`<span class="yw-tag">${dep.restriction}</span>` : ''}
      ${where ? html`<span class="yw-desc">${where}</span>` : ''}</div><div class="weui-cell__ft"></div></a>`;
  }
  function doctorHit(doc) {
    var depts = (doc.departments || []).map(function (d) { return d.name + (d.campus_name ? '（' + d.campus_name + '）' : ''); }).join('、');
    var sp = (doc.specialties || []).join('、');
    return html`<a class="weui-cell weui-cell_access yw-doctor" data-test="doctor-hit" data-id="${doc.doctor_id}" href="${selfLink({ doctor_id: doc.doctor_id })}">
      <div class="weui-cell__hd"><span class="yw-avatar yw-avatar_sm" aria-hidden="true">${(doc.name || '医').charAt(0)}</span></div>
      <div class="weui-cell__bd"><span class="yw-doctor-name">${doc.name}</span> <span class="yw-tag yw-tag_grey">${doc.title_name}</span>
      <span class="yw-desc">${depts}</span>${sp ? html`<span class="yw-desc">擅长：${sp}</span>` : ''}</div><div class="weui-cell__ft"></div></a>`;
  }
  async function search(box, keyword) {
    var out = Y.$('#doctor-results', box);
    if (!keyword.trim()) { Y.render(out, ''); Y.$('#dept-list', box).hidden = false; return; }
    Y.$('#dept-list', box).hidden = true;
    Y.render(out, Y.loading('正在查找医生…'));
    try {
      var data = await Y.getJSON(Y.link('/api/doctors', { keyword: keyword, campus_id: state.campus }));
      var items = data.items || [];
      Y.render(out, html`<div class="weui-cells__title">找到${items.length}位医生</div>
        <div class="weui-cells">${items.length ? items.map(doctorHit) : Y.none('没有找到“' + keyword.trim() + '”相关的医生，可换个关键词或按科室查找')}</div>`);
    } catch (e) {
      Y.render(out, html`<div class="weui-cells__tips yb-error" role="alert">${e.message || '查询失败，请稍后重试'}</div>`);
    }
  }
  function entry() {
    return Y.run(main, async function () {
      Y.setTitle('预约挂号');
      var data = await Y.getJSON(Y.link('/api/departments', { campus_id: state.campus }));
      var groups = data.groups || [];
      if (!data.as_of && !groups.length) throw Y.pending();
      var campuses = data.campuses || [];
      Y.render(main, html`${myLinks()}${rescheduleNote()}
        <form class="weui-search-bar weui-search-bar_focusing" id="doctor-search" role="search" action="">
          <div class="weui-search-bar__form"><div class="weui-search-bar__box"><i class="weui-icon-search"></i>
            <input type="search" class="weui-search-bar__input" id="doctor-keyword" data-test="doctor-search" placeholder="搜索医生姓名或擅长疾病" aria-label="搜索医生" maxlength="20" autocomplete="off">
          </div></div>
          <button type="submit" class="weui-search-bar__cancel-btn yw-btn-reset" data-test="doctor-search-submit">搜索</button>
        </form>
        <div id="doctor-results"></div>
        ${campuses.length > 1 ? Y.campusTabs(campuses, state.campus, 'booking.html') : ''}
        <div id="dept-list">${groups.map(function (g) {
          return html`<section class="yw-group"><div class="weui-cells__title">${g.name}</div>
            <div class="weui-cells">${(g.departments || []).map(function (dep) { return deptRow(dep, !state.campus); })}</div></section>`;
        })}${groups.length ? '' : Y.empty('该院区暂无可预约科室')}</div>`);
      var input = Y.$('#doctor-keyword', main);
      Y.$('#doctor-search', main).addEventListener('submit', function (ev) { ev.preventDefault(); input.blur(); search(main, input.value); });
      input.addEventListener('input', function (ev) { if (!ev.isComposing && !input.value) search(main, ''); });
      Y.bindTabs(main, 'booking.html', function (cid) { state.campus = cid; entry(); });
      Y.footer(data.as_of);
    });
  }

  /* ---- schedules as a date × session grid ---- */
  var SESSIONS = [['morning', '上午'], ['afternoon', '下午'], ['evening', '夜间']];
  function cellState(s) {
    if (s.stopped) return 'stopped';
    if (!s.released) return 'not_released';
    if (s.status === 'full') return 'full';
    if (s.bookable) return 'open';
    return 'closed';
  }
  function cell(s) {
    var st = cellState(s);
    var inner;
    if (st === 'stopped') inner = html`<b>停诊</b>`;
    else if (st === 'not_released') inner = html`<b>${B.hm(s.release_at)}</b><small>放号</small>`;
    else if (st === 'full') inner = html`<b>约满</b><small>${s.waitlist_open ? '排队候补' : ''}</small>`;
    else if (st === 'open') inner = html`<b>余${s.remaining}</b><small>¥${s.fee_text}</small>`;
    else inner = html`<b>${s.status_name}</b>`;
    var label = B.whenText(s) + ' ' + (s.doctor_name || '普通门诊') + '，' +
      (st === 'not_released' ? B.releaseText(s.release_at) : st === 'open' ? '剩余' + s.remaining + '个号，挂号费' + s.fee_text + '元' : st === 'stopped' ? '停诊' : st === 'full' ? '已约满' : s.status_name);
    return html`<a class="yb-cell yb-${st}" data-test="schedule-cell" data-schedule-id="${s.schedule_id}" data-state="${st}" aria-label="${label}" href="${Y.link('schedule.html', { id: s.schedule_id, reschedule: state.reschedule })}">${inner}</a>`;
  }
  function grid(schedules, dates) {
    var sessions = SESSIONS.filter(function (ss) { return schedules.some(function (s) { return s.session === ss[0]; }); });
    var at = {};
    schedules.forEach(function (s) { (at[s.date + '|' + s.session] = at[s.date + '|' + s.session] || []).push(s); });
    return html`<div class="yb-grid-wrap"><table class="yb-grid"><thead><tr><th></th>${dates.map(function (d) {
      return html`<th scope="col">${B.md(d).replace('月', '/').replace('日', '')}<small>${B.weekday(d)}</small></th>`;
    })}</tr></thead><tbody>${sessions.map(function (ss) {
      return html`<tr><th scope="row">${ss[1]}</th>${dates.map(function (d) {
        var here = at[d + '|' + ss[0]] || [];
        return html`<td>${here.length ? here.map(cell) : html`<span class="yb-none" aria-hidden="true">-</span>`}</td>`;
      })}</tr>`;
    })}</tbody></table></div>`;
  }
  function pendingRelease(schedules) {
    var next = schedules.filter(function (s) { return !s.released && !s.stopped; })
      .sort(function (a, b) { return a.release_at < b.release_at ? -1 : 1; })[0];
    return next ? html`<p class="yb-release-note" data-test="release-note">${B.md(next.date)}的号 ${B.releaseText(next.release_at)}</p>` : '';
  }
  function section(title, sub, schedules, dates, id) {
    var stops = schedules.filter(function (s) { return s.stopped; });
    return html`<section class="yb-doctor" data-test="doctor-section" data-doctor-id="${id}">
      <div class="weui-cells__title yw-h2">${title}${sub ? html` <span class="yw-tag yw-tag_grey">${sub}</span>` : ''}</div>
      <div class="weui-cells">${schedules.length ? html`<div class="yb-grid-box">${grid(schedules, dates)}${pendingRelease(schedules)}
        ${stops.map(function (s) { return html`<p class="yb-stop" data-test="stop-message">${B.whenText(s)}：${s.stop_message}</p>`; })}</div>`
        : Y.none('近' + dates.length + '天暂无出诊安排')}</div></section>`;
  }
  function countdownBanner(nextRelease) {
    return html`<div class="yb-countdown" id="release-countdown" data-test="release-countdown" data-release-at="${nextRelease}" role="timer" aria-live="off">
      <span>距 ${B.releaseText(nextRelease)}</span><strong id="release-left">${B.countdownText(B.msUntil(nextRelease))}</strong>
      <small>每天08:00放出第7天的号，以医院系统时间为准</small></div>`;
  }
  function startTicking(reload) {
    if (stopTick) stopTick();
    var el = Y.$('#release-countdown');
    if (!el) return;
    var at = el.getAttribute('data-release-at');
    var reloaded = false;
    stopTick = B.every(function () {
      var left = B.msUntil(at);
      var out = Y.$('#release-left');
      if (!out) return false;
      out.textContent = B.countdownText(left);
      if (left <= 0 && !reloaded) { reloaded = true; setTimeout(reload, 1500); return false; }
      return true;
    });
  }
  function asOfBanner(data) {
    return data.live ? '' : html`<div class="yw-asof" id="as-of" role="status">医院系统暂时无法连接，以下是 ${Y.fmtTime(data.as_of)} 查询到的号源，可能不是最新。</div>`;
  }

  function schedulesPage() {
    return Y.run(main, async function () {
      var path = state.department ? '/api/departments/' + encodeURIComponent(state.department) : '/api/doctors/' + encodeURIComponent(state.doctor);
      var info = await Y.getJSON(path);
      var params = { department_id: state.department, doctor_id: state.department ? '' : state.doctor };
      var data;
      try {
        // the release window and the next day to be released (its release time shows), from the server's today
        data = await Y.getJSON(Y.link('/api/schedules', Object.assign({ date_to: B.shanghaiDate(B.now(), 8) }, params)));
      } catch (e) {
        if (e.code !== 'BAD_REQUEST') throw e;
        data = await Y.getJSON(Y.link('/api/schedules', params)); // the phone's date is far off: the server's default
      }
      B.syncClock(data.server_time);
      var items = data.items || [];
      var dates = B.dateRange(data.date_from, data.date_to);
      var sections = [];
      var heading;
      if (state.department) {
        var dept = info.department;
        heading = html`<div class="yw-hero"><h1 id="booking-title">${dept.name}</h1><p>${[dept.campus_name, dept.location_text].filter(Boolean).join(' · ')}</p>${dept.restriction ? html`<p class="yw-tag">${dept.restriction}</p>` : ''}</div>`;
        Y.setTitle(dept.name + ' - 预约挂号');
        var seen = {};
        (info.doctors || []).forEach(function (doc) {
          seen[doc.doctor_id] = true;
          sections.push(section(doc.name, doc.title_name, items.filter(function (s) { return s.doctor_id === doc.doctor_id; }), dates, doc.doctor_id));
        });
        // doctors on the schedule not (yet) in our synced list still show, by the schedule's own names
        items.forEach(function (s) {
          if (s.doctor_id && !seen[s.doctor_id]) {
            seen[s.doctor_id] = true;
            sections.push(section(s.doctor_name || '医生', s.doctor_title_name, items.filter(function (x) { return x.doctor_id === s.doctor_id; }), dates, s.doctor_id));
          }
        });
        var pool = items.filter(function (s) { return !s.doctor_id; });
        sections.push(section('普通门诊', '不指定医生', pool, dates, 'pool'));
      } else {
        var doc = info.doctor;
        heading = html`<div class="yw-hero yw-with-avatar"><span class="yw-avatar" aria-hidden="true">${(doc.name || '医').charAt(0)}</span><div><h1 id="booking-title">${doc.name}</h1><p>${doc.title_name}${(info.departments || []).length ? ' · ' + info.departments.map(function (d) { return d.name; }).join('、') : ''}</p></div></div>`;
        Y.setTitle(doc.name + ' - 预约挂号');
        sections.push(section('出诊安排', '', items, dates, doc.doctor_id));
      }
      Y.render(main, html`${myLinks()}${rescheduleNote()}${heading}${asOfBanner(data)}${countdownBanner(data.next_release_at)}
        <div class="weui-cells__tips yb-legend">点击格子查看详情并预约。“余N”为剩余号数，“约满”可排队候补。</div>
        <div id="schedule-list">${sections}</div>
        <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="${selfLink({ campus_id: state.campus })}" data-test="back-to-departments">选择其他科室</a></p>`);
      Y.footer(data.as_of);
      startTicking(schedulesPage);
    });
  }

  if (state.department || state.doctor) schedulesPage(); else entry();
})(window.YW, window.YB);
