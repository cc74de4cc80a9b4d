/* 院区导航: each campus with address, phone (tel:), transport. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '院区导航' });
  Y.run(main, async function () {
    var data = await Y.getJSON('/api/campuses');
    var items = data.items || [];
    if (!data.as_of && !items.length) throw Y.pending();
    Y.render(main, items.length ? items.map(function (c) {
      return html`<section class="yw-campus" id="campus-${c.campus_id}">
        <div class="weui-cells__title yw-h2">${c.name}</div>
        <div class="weui-cells">
          <div class="weui-cell"><div class="weui-cell__hd yw-label">地址</div><div class="weui-cell__bd">${c.address}</div></div>
          ${c.phone ? html`<a class="weui-cell weui-cell_access" href="${Y.telHref(c.phone)}"><div class="weui-cell__hd yw-label">电话</div><div class="weui-cell__bd yw-tel">${c.phone}</div><div class="weui-cell__ft">拨打</div></a>` : ''}
          ${c.transport ? html`<div class="weui-cell"><div class="weui-cell__hd yw-label">交通</div><div class="weui-cell__bd">${c.transport}</div></div>` : ''}
          <a class="weui-cell weui-cell_access" href="${Y.link('departments.html', { campus_id: c.campus_id })}"><div class="weui-cell__bd">查看本院区科室</div><div class="weui-cell__ft"></div></a>
        </div></section>`;
    }) : Y.empty('暂无院区信息'));
    Y.footer(data.as_of);
    var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  });
})(window.YW);
