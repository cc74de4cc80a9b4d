/* 医生详情 (?id=): titles, departments, specialties, intro, fees. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '医生详情' });
  Y.run(main, async function () {
    var id = Y.needId('医生');
    var data = await Y.getJSON('/api/doctors/' + encodeURIComponent(id));
    var doc = data.doctor || {};
    var deps = data.departments || [];
    var fees = data.fees || [];
    var names = {};
    deps.forEach(function (x) { names[x.campus_id] = x.campus_name; });
    var sp = (doc.specialties || []).join('、');
    Y.setTitle(doc.name ? doc.name + ' ' + (doc.title_name || '') : '医生详情');
    Y.render(main, html`
      <div class="yw-hero yw-with-avatar"><span class="yw-avatar" aria-hidden="true">${(doc.name || '医').charAt(0)}</span>
        <div><h1 id="doctor-name">${doc.name}</h1><div class="yw-sub">${[doc.title_name, doc.academic_title].filter(Boolean).join(' · ')}</div></div></div>
      <div class="weui-cells__title">所在科室</div>
      <div class="weui-cells" id="doctor-depts">${deps.length ? deps.map(function (x) { return Y.deptRow(x, true); }) : Y.none('暂无科室信息')}</div>
      ${sp ? html`<div class="weui-cells__title">擅长</div><div class="yw-text" id="doctor-specialties">${sp}</div>` : ''}
      ${doc.intro ? html`<div class="weui-cells__title">医生简介</div><div class="yw-text">${doc.intro}</div>` : ''}
      ${Y.feeBlock(fees, names)}`);
    Y.footer(data.as_of);
  });
})(window.YW);
