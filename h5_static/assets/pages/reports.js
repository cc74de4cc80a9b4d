/* 报告查询 (?patient_id=&category=): choose a bound patient, then the reports of the last 180 days.
 * Read live from the hospital; when it cannot answer, the kept copy is shown under an "as of" banner. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var CATEGORIES = [['', '全部'], ['lab', '检验'], ['exam', '检查']];
  var main = Y.page({ title: '报告查询' });

  function tabs(items, current, attr, label) {
    return html`<nav class="weui-navbar yw-tabs" aria-label="${label}">${items.map(function (t) {
      var on = t[0] === current;
      return html`<a class="weui-navbar__item${on ? ' weui-bar__item_on' : ''}" href="#" ${Y.raw(attr)}="${t[0]}"${on ? html` aria-current="true"` : ''}>${t[1]}</a>`;
    })}</nav>`;
  }
  function row(r, patientId) {
    var when = Y.fmtTime(r.finalized_at || r.ordered_at);
    var what = [r.category_name, r.specimen || [r.modality, r.body_part].filter(Boolean).join(' ')].filter(Boolean).join(' · ');
    var flags = r.has_critical ? html`<span class="yw-warn">含危急值</span>` : (r.abnormal_count ? html`<span class="yw-warn">${r.abnormal_count}项异常</span>` : '');
    var body = html`<div class="weui-cell__bd"><span class="yw-report-title">${r.title}</span>
        <span class="yw-desc">${what}${when ? ' · ' + when : ''}</span>
        ${r.state_note ? html`<span class="yw-desc yw-report-note">${r.state_note}</span>` : ''}${flags ? html`<span class="yw-desc">${flags}</span>` : ''}</div>
      <div class="weui-cell__ft yw-ft"><span class="yw-state-tag yw-state-${r.state}">${r.state_text}</span></div>`;
    if (r.state !== 'viewable') return html`<div class="weui-cell yw-report" data-id="${r.report_id}">${body}</div>`;
    return html`<a class="weui-cell weui-cell_access yw-report" data-id="${r.report_id}" href="${Y.link('report.html', { patient_id: patientId, id: r.report_id })}">${body}</a>`;
  }

  Y.run(main, async function () {
    var patients = (await Y.getJSON('/api/patients')).items || [];
    if (!patients.length) {
      Y.msg(main, { icon: 'info', title: '您还没有绑定就诊人', desc: '绑定就诊人后，即可在这里查看检查、检验报告。' });
      return;
    }
    var wanted = Y.query('patient_id');
    var state = {
      patient: (patients.filter(function (p) { return p.patient_id === wanted; })[0] || patients[0]).patient_id,
      category: Y.query('category')
    };
    async function show() {
      var q = new URLSearchParams();
      q.set('patient_id', state.patient);
      if (state.category) q.set('category', state.category);
      window.history.replaceState(null, '', 'reports.html?' + q);
      var list = Y.$('#report-list');
      Y.render(list, Y.loading('正在向医院查询报告…'));
      var data = await Y.getJSON(Y.link('/api/patients/' + encodeURIComponent(state.patient) + '/reports', { category: state.category }));
      var items = data.items || [];
      Y.render(list, html`
        ${data.live ? '' : html`<div class="yw-asof" id="as-of" role="status">医院系统暂时无法连接，以下是 ${Y.fmtTime(data.as_of)} 查询到的结果，可能不是最新。</div>`}
        <div class="weui-cells__title">近${data.days}天的报告（${items.length}份）</div>
        <div class="weui-cells" id="reports">${items.length ? items.map(function (r) { return row(r, state.patient); }) : Y.none('这段时间没有报告')}</div>
        <div class="weui-cells__tips">“报告未出”“待发布”的报告出具并发布后即可查看。报告结果请以医生解读为准。</div>`);
      Y.footer(data.as_of);
    }
    Y.render(main, html`
      ${tabs(patients.map(function (p) { return [p.patient_id, p.label + (p.relation_name ? '（' + p.relation_name + '）' : '')]; }), state.patient, 'data-patient', '选择就诊人')}
      ${tabs(CATEGORIES, state.category, 'data-category', '报告类别')}
      <div id="report-list"></div>`);
    function rerun() {
      show().catch(function (e) {
        var msg = e instanceof Y.ApiError ? e.message : '页面出了点问题，请稍后重试';
        Y.render(Y.$('#report-list'), html`<div class="yw-state" role="alert"><p class="weui-msg__desc" id="list-error">${msg}</p>
          <p class="weui-btn-area"><button type="button" class="weui-btn weui-btn_primary" id="list-retry">重新查询</button></p></div>`);
        Y.$('#list-retry').addEventListener('click', rerun);
      });
    }
    Y.$$('[data-patient],[data-category]', main).forEach(function (a) {
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        var nav = a.parentNode;
        Y.$$('a', nav).forEach(function (x) { x.classList.remove('weui-bar__item_on'); x.removeAttribute('aria-current'); });
        a.classList.add('weui-bar__item_on');
        a.setAttribute('aria-current', 'true');
        if (a.hasAttribute('data-patient')) state.patient = a.getAttribute('data-patient');
        else state.category = a.getAttribute('data-category');
        rerun();
      });
    });
    await show();
  });
})(window.YW);
