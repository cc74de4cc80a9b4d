/* 门诊缴费 (?patient_id=): a bound patient's unpaid charges from the hospital; choose, pay with WeChat Pay,
 * then the e-receipt. The amount is the hospital's (the server pre-settles), never the page's. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '门诊缴费' });

  function key() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return 'pay-' + Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  function tabs(patients, current) {
    return html`<nav class="weui-navbar yw-tabs" aria-label="选择就诊人">${patients.map(function (p) {
      var on = p.patient_id === current;
      return html`<a class="weui-navbar__item${on ? ' weui-bar__item_on' : ''}" href="#" data-patient="${p.patient_id}"${on ? html` aria-current="true"` : ''}>${p.label}${p.relation_name ? '（' + p.relation_name + '）' : ''}</a>`;
    })}</nav>`;
  }
  function charge(c) {
    var items = html`<ul class="yp-items">${c.items.map(function (i) {
      return html`<li><span>${i.name}${i.specification ? ' ' + i.specification : ''} ×${i.quantity}${i.unit || ''}</span><span>¥${i.amount_text}</span></li>`;
    })}</ul>`;
    return html`<label class="weui-cell weui-check__label yp-charge${c.payable_online ? '' : ' yp-off'}" data-charge="${c.charge_id}">
      <div class="weui-cell__hd"><input type="checkbox" class="weui-check" name="charge" value="${c.charge_id}" data-fen="${c.total_fen}"${c.payable_online ? ' checked' : ' disabled'}><i class="weui-icon-checked"></i></div>
      <div class="weui-cell__bd"><span class="yp-title">${c.title}</span>
        <span class="yw-desc">${c.type_name}${c.doctor_name ? ' · ' + c.doctor_name : ''}${c.payable_online ? '' : ' · ' + c.not_payable_text}</span>${items}</div>
      <div class="weui-cell__ft yp-amount">¥${c.total_text}</div></label>`;
  }

  Y.run(main, async function () {
    var patients = (await Y.getJSON('/api/patients')).items || [];
    if (!patients.length) {
      Y.msg(main, { icon: 'info', title: '您还没有绑定就诊人', desc: '绑定就诊卡后，即可在这里缴纳门诊费用。' });
      return;
    }
    var wanted = Y.query('patient_id');
    var state = { patient: (patients.filter(function (p) { return p.patient_id === wanted; })[0] || patients[0]).patient_id };
    Y.render(main, html`${tabs(patients, state.patient)}<div id="charges"></div>
      <p class="weui-cells__tips"><a href="payments.html" id="history-link">查看缴费记录与退款</a></p>`);

    function selected() { return Y.$$('input[name=charge]:checked', main); }
    function updateTotal() {
      var fen = selected().reduce(function (s, i) { return s + Number(i.getAttribute('data-fen')); }, 0);
      var t = Y.$('#total');
      if (t) t.textContent = (fen / 100).toFixed(2);
      var b = Y.$('#pay');
      if (b) b.disabled = !selected().length;
    }
    function say(text, alert) {
      Y.render(Y.$('#pay-status'), text ? html`<div class="yp-msg" role="${alert ? 'alert' : 'status'}">${text}</div>` : '');
    }

    async function show() {
      window.history.replaceState(null, '', 'charges.html?patient_id=' + encodeURIComponent(state.patient));
      var box = Y.$('#charges');
      Y.render(box, Y.loading('正在向医院查询待缴费用…'));
      var data = await Y.getJSON(Y.link('/api/payments/charges', { patient_id: state.patient }));
      var items = data.items || [];
      if (!items.length) {
        Y.render(box, html`<div class="weui-cells">${Y.none('没有待缴费用')}</div>`);
        return;
      }
      Y.render(box, html`
        ${data.live ? '' : html`<div class="yp-msg" role="status">医院系统暂时无法连接，以下是 ${Y.fmtTime(data.as_of)} 的结果；缴费需医院系统恢复后进行。</div>`}
        <div class="weui-cells__title">待缴费用（${items.length}项）</div>
        <div class="weui-cells weui-cells_checkbox" id="charge-list">${items.map(charge)}</div>
        <div id="pay-status"></div>
        <div class="yp-bar"><span class="yp-total">合计 <b>¥<span id="total">0.00</span></b></span>
          <button type="button" class="weui-btn weui-btn_primary" id="pay">立即缴费</button></div>`);
      Y.$$('input[name=charge]', box).forEach(function (i) { i.addEventListener('change', updateTotal); });
      updateTotal();
      var requestKey = key();
      Y.$('#pay').addEventListener('click', function () { pay(requestKey).catch(function (e) {
        say(e instanceof Y.ApiError ? e.message : '暂时无法缴费，请稍后重试', true);
        Y.$('#pay').disabled = false;
      }); });
    }

    async function pay(requestKey) {
      var button = Y.$('#pay');
      button.disabled = true;
      Y.$$('input[name=charge]', main).forEach(function (i) { i.disabled = true; });
      say('正在向医院确认缴费金额…');
      var ids = selected().map(function (i) { return i.value; });
      var answer = await Y.sendJSON('POST', '/api/payments/charges', { patient_id: state.patient, charge_ids: ids, request_key: requestKey });
      var orderId = answer.order.order_id;
      answer = await Y.waitOrder(orderId, function (o) { return o.state !== 'created'; }, 30000);
      if (answer.order.state !== 'paying' || !answer.jsapi) {
        say(answer.order.message || '暂时无法缴费，请稍后重试', true);
        return;
      }
      say('请在微信支付中确认 ¥' + answer.order.amount_text);
      var result = await Y.wcpay(answer);
      if (result === 'unavailable') { say('请在微信中打开本页面完成支付', true); return; }
      if (result === 'cancel') {
        say('您已取消支付。可重新点击“立即缴费”。');
        button.disabled = false;
        return;
      }
      say('正在确认缴费结果，请勿离开…');
      await Y.sendJSON('POST', '/api/payments/orders/' + encodeURIComponent(orderId) + '/check', {});
      answer = await Y.waitOrder(orderId, function (o) { return o.final || o.state === 'refunding'; }, 60000);
      if (answer.order.state === 'settled') {
        window.location.href = 'receipt.html?id=' + encodeURIComponent(orderId);
        return;
      }
      say(answer.order.message || '缴费结果确认中，请稍后在缴费记录中查看', answer.order.state !== 'paid');
    }

    Y.$$('[data-patient]', main).forEach(function (a) {
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        Y.$$('[data-patient]', main).forEach(function (x) { x.classList.remove('weui-bar__item_on'); x.removeAttribute('aria-current'); });
        a.classList.add('weui-bar__item_on');
        a.setAttribute('aria-current', 'true');
        state.patient = a.getAttribute('data-patient');
        show().catch(function (e) { Y.render(Y.$('#charges'), html`<div class="yp-msg" role="alert">${e.message || '查询失败，请稍后重试'}</div>`); });
      });
    });
    await show();
  });
})(window.YW);
