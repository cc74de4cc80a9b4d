/* Paying with WeChat Pay from our pages (payments): YW.wcpay(answer) runs getBrandWCPayRequest with the
 * server's JSAPI parameters and resolves to 'ok' | 'cancel' | 'fail' | 'unavailable'. Whatever it says, the
 * page then asks the server (the notification or a query decides, never the browser).
 * In the local stack only, the API adds answer.simulator.pay_url: outside real WeChat the page shows a
 * stand-in of WeChat's payment sheet that asks the fake WeChat Pay to complete the payment (which then sends
 * its signed notification to the app), as WeChat's own sheet would. */
(function (Y) {
  'use strict';
  var html = Y.html;

  function viaBridge(jsapi) {
    return new Promise(function (resolve) {
      window.WeixinJSBridge.invoke('getBrandWCPayRequest', jsapi, function (res) {
        var m = String((res && res.err_msg) || '');
        resolve(/:ok$/.test(m) ? 'ok' : /cancel/.test(m) ? 'cancel' : 'fail');
      });
    });
  }

  function viaSimulator(answer) {
    return new Promise(function (resolve) {
      var sheet = document.createElement('div');
      sheet.className = 'yp-sheet';
      sheet.setAttribute('role', 'dialog');
      sheet.setAttribute('aria-label', '微信支付');
      Y.render(sheet, html`<div><p>微信支付（本地模拟）</p><p class="yw-desc">${answer.order.description}</p>
        <p class="yp-big">¥${answer.order.amount_text}</p>
        <p><button type="button" class="weui-btn weui-btn_primary" id="yp-sim-pay">确认支付</button></p>
        <p><button type="button" class="weui-btn weui-btn_default" id="yp-sim-cancel">取消</button></p></div>`);
      document.body.appendChild(sheet);
      function done(result) { sheet.remove(); resolve(result); }
      Y.$('#yp-sim-cancel', sheet).addEventListener('click', function () { done('cancel'); });
      Y.$('#yp-sim-pay', sheet).addEventListener('click', function () {
        this.disabled = true;
        fetch(answer.simulator.pay_url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(answer.jsapi) })
          .then(function (r) { return r.json(); })
          .then(function (b) { done(/:ok$/.test(String(b.err_msg || '')) ? 'ok' : 'fail'); },
            function () { done('fail'); });
      });
    });
  }

  Y.wcpay = function (answer) {
    if (!answer || !answer.jsapi) return Promise.resolve('unavailable');
    if (window.WeixinJSBridge) return viaBridge(answer.jsapi);
    if (answer.simulator && answer.simulator.pay_url) return viaSimulator(answer);
    return Promise.resolve('unavailable');
  };

  Y.sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };

  /* Poll an order until test(order) holds (or ~limitMs passes); returns the last answer. */
  Y.waitOrder = async function (orderId, test, limitMs) {
    var until = Date.now() + (limitMs || 30000);
    var answer = await Y.getJSON('/api/payments/orders/' + encodeURIComponent(orderId));
    while (!test(answer.order) && Date.now() < until) {
      await Y.sleep(1000);
      answer = await Y.getJSON('/api/payments/orders/' + encodeURIComponent(orderId));
    }
    return answer;
  };
})(window.YW);
