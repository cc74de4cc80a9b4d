/* 缴费记录: the user's payments (registration fees and outpatient charges), newest first, with refunds. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '缴费记录' });

  function row(o) {
    var body = html`<div class="weui-cell__bd"><span class="yp-title">${o.kind_name} ¥${o.amount_text}</span>
        <span class="yw-desc">${o.description}</span>
        <span class="yw-desc">${Y.fmtTime(o.paid_at || o.created_at)}${o.message ? ' · ' + o.message : ''}</span>
        ${o.refunds.map(function (f) { return html`<span class="yw-desc yp-refund">退款 ¥${f.amount_text}：${f.state_text}</span>`; })}</div>
      <div class="weui-cell__ft"><span class="yp-state yp-state-${o.state}">${o.state_text}</span></div>`;
    return o.receipt_available
      ? html`<a class="weui-cell weui-cell_access yp-order" data-id="${o.order_id}" href="receipt.html?id=${o.order_id}">${body}</a>`
      : html`<div class="weui-cell yp-order" data-id="${o.order_id}">${body}</div>`;
  }

  Y.run(main, async function () {
    var items = (await Y.getJSON('/api/payments/orders')).items || [];
    Y.render(main, html`<div class="weui-cells__title">缴费记录</div>
      <div class="weui-cells" id="orders">${items.length ? items.map(row) : Y.none('还没有缴费记录')}</div>
      <p class="weui-cells__tips">退款将原路退回，一般1-3个工作日到账。</p>
      <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="charges.html">门诊缴费</a></p>`);
  });
})(window.YW);
