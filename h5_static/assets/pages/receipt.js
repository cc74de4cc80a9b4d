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
      ${r.state === 'settled' ? refundForm(r) : ''}
      <p class="weui-btn-area"><a class="weui-btn weui-btn_default" href="payments.html">缴费记录</a></p>`);
    var ask = Y.$('#refund-ask');
    if (ask) ask.addEventListener('click', function () { askRefund(r, ask); });
  });

  /* 申请退费: whole lines not yet executed (medicine not collected, exam not done); the hospital decides. */
  function refundForm(r) {
    var lines = [];
    r.charges.forEach(function (c) {
      c.items.forEach(function (i) { if (i.item_id) lines.push({ charge_id: c.charge_id, item: i }); });
    });
    if (!lines.length) return '';
    return html`<div class="weui-cells__title">申请退费（仅限未取药、未做检查的项目）</div>
      <div class="weui-cells weui-cells_checkbox" id="refund-lines">${lines.map(function (l) {
        return html`<label class="weui-cell weui-check__label" data-test="refund-line"><div class="weui-cell__hd">
          <input type="checkbox" class="weui-check" name="refund" value="${l.charge_id}|${l.item.item_id}"><i class="weui-icon-checked"></i></div>
          <div class="weui-cell__bd">${l.item.name}${l.item.specification ? '（' + l.item.specification + '）' : ''}</div>
          <div class="weui-cell__ft">¥${l.item.amount_text}</div></label>`;
      })}</div>
      <div id="refund-message" role="status"></div>
      <p class="weui-btn-area"><button type="button" class="weui-btn weui-btn_default" id="refund-ask" data-test="refund-ask">申请退费</button></p>`;
  }

  async function askRefund(r, button) {
    var picked = Y.$$('input[name=refund]:checked').map(function (box) {
      var parts = box.value.split('|');
      return { charge_id: parts[0], item_id: parts[1] };
    });
    var out = Y.$('#refund-message');
    if (!picked.length) { Y.render(out, html`<p class="yw-warn">请先勾选要退费的项目</p>`); return; }
    button.disabled = true;
    try {
      var res = await Y.sendJSON('POST', '/api/payments/orders/' + encodeURIComponent(r.order_id) + '/refunds', { items: picked });
      Y.render(out, html`<p class="yp-ok" data-test="refund-sent">${res.order.message || '退费申请已提交'}，医院审核通过后款项将原路退回，可在缴费记录中查看</p>`);
    } catch (e) {
      button.disabled = false;
      Y.render(out, html`<p class="yw-warn" data-test="refund-error">${e.message}</p>`);
    }
  }
})(window.YW);
