/* 电子凭条 (?id=<order_id>): what was paid, when, the hospital's e-receipt, a verification QR code for the
 * pharmacy or exam desk, and where to go next (pharmacy window / exam room with building and floor). */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '电子凭条' });

  function guide(g) {
    return html`<section class="yp-guide"><h3>${g.action_name}${g.charge_title ? '：' + g.charge_title : ''}</h3>
      <p class="yp-where">${g.location_text}${g.window ? ' ' + g.window : ''}</p>
      ${g.ticket_no ? html`<p>号码：<b>${g.ticket_no}</b></p>` : ''}
      ${g.instructions ? html`<p>注意：${g.instructions}</p>` : ''}
      ${g.needs_booking ? html`<p class="yw-warn">该检查需另行预约时间，请到检查科室登记。</p>` : ''}</section>`;
  }

  Y.run(main, async function () {
    var id = Y.needId('凭条');
    var r = (await Y.getJSON('/api/payments/orders/' + encodeURIComponent(id) + '/receipt')).receipt;
    var e = r.e_receipt;
    Y.render(main, html`<article class="yp-receipt" id="receipt" aria-label="电子凭条">
        <h2>门诊缴费电子凭条</h2><p class="yp-ok" id="receipt-state">${r.state === 'settled' ? '缴费成功' : r.state_text}</p>
        <p class="yp-big" id="receipt-amount">¥${r.amount_text}</p>
        <dl class="yp-kv">
          <dt>缴费时间</dt><dd id="paid-at">${Y.fmtTime(r.paid_at)}</dd>
          <dt>结算单号</dt><dd>${r.settlement_id || ''}</dd>
          <dt>支付单号</dt><dd>${r.transaction_id || ''}</dd>
          ${e && e.receipt_no ? html`<dt>电子票据</dt><dd id="e-receipt">${e.receipt_code} / ${e.receipt_no}（校验码 ${e.verification_code}）</dd>` : html`<dt>电子票据</dt><dd id="e-receipt">${e && e.status === 'failed' ? '开具失败，财务科将重新开具' : '开具中，请稍后查看'}</dd>`}
        </dl>
        <div class="weui-cells__title">缴费项目</div>
        <ul class="yp-items" id="receipt-items">${r.charges.map(function (c) {
          return html`<li><span>${c.title}</span><span>¥${c.total_text}</span></li>`;
        })}</ul>
        <div class="yp-qr"><img id="receipt-qr" src="${r.qr_svg}" alt="凭条核验二维码"><p class="yw-desc">取药或检查时出示此码核验</p></div>
      </article>
      <div class="weui-cells__title">接下来请前往</div>
      <div id="guidance">${r.guidance.length ? r.guidance.map(guide) : html`<p class="yp-msg">请按医生嘱咐前往相应窗口或科室。</p>`}</div>
      ${r.refunds.length ? html`<div class="weui-cells__title">退款</div><div class="weui-cells">${r.refunds.map(function (f) {
        return html`<div class="weui-cell"><div class="weui-cell__bd">¥${f.amount_text}</div><div class="weui-cell__ft">${f.state_text}</div></div>`;
      })}</div>` : ''}
      <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="payments.html">缴费记录</a></p>`);
  });
})(window.YW);
