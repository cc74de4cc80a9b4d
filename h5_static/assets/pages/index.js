/* 医院首页: name, intro, counts, entry grid, campuses. */
(function (Y) {
  'use strict';
  var html = Y.html;
  function icon(body) {
    return Y.raw('<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' + body + '</svg>');
  }
  var ENTRIES = [
    // booking (owner: browse): 预约挂号 and 我的预约 (the menu's 诊前 has no room for a sixth item)
    ['预约挂号', 'booking.html', icon('<rect x="3.5" y="5" width="17" height="15" rx="1.5"/><path d="M3.5 10h17M8 3v4M16 3v4M9 14.5l2 2 4-4"/>')],
    ['我的预约', 'appointments.html', icon('<rect x="5" y="3.5" width="14" height="17" rx="1.5"/><path d="M9 8h6M9 12h6M9 16h4"/>')],
    ['院区导航', 'campuses.html', icon('<path d="M12 21s-7-6.2-7-11.5a7 7 0 0 1 14 0C19 14.8 12 21 12 21z"/><circle cx="12" cy="9.5" r="2.5"/>')],
    ['科室导航', 'departments.html', icon('<rect x="4" y="3" width="16" height="18" rx="1.5"/><path d="M12 7v6M9 10h6M10 21v-4h4v4"/>')],
    ['找医生', 'departments.html?for=doctor', icon('<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>')],
    ['收费标准', 'fees.html', icon('<circle cx="12" cy="12" r="9"/><path d="M8.5 7l3.5 5 3.5-5M12 12v6M9 13h6M9 16h6"/>')]
  ];
  var main = Y.page({ title: '医院首页', home: true });
  Y.run(main, async function () {
    var h = await Y.getJSON('/api/hospital');
    var campuses = h.campuses || [];
    if (h.name) Y.setTitle(h.name);
    if (!h.as_of && !campuses.length) throw Y.pending();
    var stats = h.stats || {};
    Y.render(main, html`
      <div class="yw-hero"><h1 id="hospital-name">${h.name}</h1>${h.intro ? html`<p>${h.intro}</p>` : ''}</div>
      <div class="yw-stats"><div><strong>${campuses.length}</strong>个院区</div><div><strong>${stats.departments || 0}</strong>个科室</div><div><strong>${stats.doctors || 0}</strong>位医生</div></div>
      <div class="weui-grids yw-grid2">${ENTRIES.map(function (e) {
        return html`<a class="weui-grid" href="${e[1]}"><div class="weui-grid__icon">${e[2]}</div><p class="weui-grid__label">${e[0]}</p></a>`;
      })}</div>
      <div class="weui-cells__title">院区</div>
      <div class="weui-cells" id="campus-list">${campuses.length ? campuses.map(function (c) {
        return html`<a class="weui-cell weui-cell_access yw-campus" href="${'campuses.html#campus-' + encodeURIComponent(c.campus_id)}"><div class="weui-cell__bd">${c.name}<span class="yw-desc">${c.address}</span></div><div class="weui-cell__ft"></div></a>`;
      }) : html`<div class="weui-cell"><div class="weui-cell__bd">暂无院区信息</div></div>`}</div>`);
    Y.footer(h.as_of);
  });
})(window.YW);
