/* 挂号费标准: the fee schedule grouped by registration type, with a campus filter. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '收费标准' });
  var campusId = Y.query('campus_id');
  function load() {
    return Y.run(main, async function () {
      var res = await Promise.all([Y.getJSON(Y.link('/api/fee-schedule', { campus_id: campusId })), Y.getJSON('/api/campuses')]);
      var items = res[0].items || [];
      var campuses = res[1].items || [];
      if (!res[0].as_of && !items.length) throw Y.pending();
      var names = {};
      campuses.forEach(function (c) { names[c.campus_id] = c.name; });
      var groups = [];
      var byType = {};
      items.forEach(function (f) {
        if (!byType[f.reg_type]) { byType[f.reg_type] = { name: f.reg_type_name, fees: [] }; groups.push(byType[f.reg_type]); }
        byType[f.reg_type].fees.push(f);
      });
      Y.render(main, html`
        <div class="yw-hero"><h1>挂号费标准</h1><p>以下为门诊挂号费用，单位：元。实际费用以挂号时显示的金额为准。</p></div>
        ${campuses.length > 1 ? Y.campusTabs(campuses, campusId, 'fees.html') : ''}
        <div id="fee-groups">${groups.length ? groups.map(function (g) {
          return html`<div class="weui-cells__title">${g.name}</div><div class="weui-cells">${Y.feeCells(g.fees, names, true)}</div>`;
        }) : Y.empty('暂无收费信息')}</div>`);
      Y.bindTabs(main, 'fees.html', function (cid) { campusId = cid; load(); });
      Y.footer(res[0].as_of);
    });
  }
  load();
})(window.YW);
