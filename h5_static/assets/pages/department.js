/* 科室详情 (?id=): location and wayfinding, intro, doctors, registration fees. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '科室详情' });
  Y.run(main, async function () {
    var id = Y.needId('科室');
    var data = await Y.getJSON('/api/departments/' + encodeURIComponent(id));
    var dep = data.department || {};
    var loc = dep.location || {};
    var campus = data.campus;
    var doctors = data.doctors || [];
    var fees = data.fees || [];
    var names = {};
    if (campus) names[campus.campus_id] = campus.name;
    var place = [loc.building, loc.floor, loc.room].filter(Boolean).join(' ') || dep.location_text;
    Y.setTitle(dep.name || '科室详情');
    Y.render(main, html`
      <div class="yw-hero"><h1 id="dept-name">${dep.name}${dep.restriction ? html`<span class="yw-tag">${dep.restriction}</span>` : ''}</h1>
        <div class="yw-sub">${(campus && campus.name) || dep.campus_name}</div></div>
      <div class="weui-cells__title">就诊位置</div>
      <div class="weui-cells">
        ${campus ? html`<a class="weui-cell weui-cell_access" href="${'campuses.html#campus-' + encodeURIComponent(campus.campus_id)}"><div class="weui-cell__hd yw-label">院区</div><div class="weui-cell__bd">${campus.name}<span class="yw-desc">${campus.address}</span></div><div class="weui-cell__ft"></div></a>` : ''}
        ${place ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">位置</div><div class="weui-cell__bd" id="dept-location">${place}</div></div>` : ''}
        ${loc.description ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">怎么走</div><div class="weui-cell__bd">${loc.description}</div></div>` : ''}
      </div>
      ${dep.intro ? html`<div class="weui-cells__title">科室介绍</div><div class="yw-text">${dep.intro}</div>` : ''}
      <div class="weui-cells__title">科室医生（${doctors.length}位）</div>
      <div class="weui-cells" id="doctor-list">${doctors.length ? doctors.map(Y.doctorRow) : Y.none('暂无医生信息')}</div>
      ${Y.feeBlock(fees, names)}`);
    Y.footer(data.as_of);
  });
})(window.YW);
