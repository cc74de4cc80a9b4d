/* 添加就诊人 (an existing patient of the hospital): relation, name, document and the mobile phone on file →
 * 获取验证码 (the hospital checks them; the code goes to the phone it has on record) → enter the code → done. */
(function (Y, C) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '添加就诊人' });

  Y.run(main, async function () {
    if (await C.resume(main, { restart: 'card-bind.html' })) return;
    var data = await C.precheck(main);
    if (!data) return;
    var idTypes = data.id_types.filter(function (t) { return t.value !== 'none'; });
    var relation = Y.query('relation');
    Y.render(main, html`
      <div class="weui-cells__title yw-h2">填写就诊人信息</div>
      <p class="yw-hint">请填写就诊人在本院登记的信息。为保护就诊人隐私，验证码将发送到医院登记的手机号。</p>
      <div id="form-box"></div>
      <form class="weui-cells weui-cells_form yw-form" id="bind-form" novalidate>
        ${C.row('与您的关系', 'relation', C.select('relation', [{ value: '', name: '请选择' }].concat(data.relationOptions), relation))}
        ${C.row('姓名', 'name', C.input('name', 'type="text" maxlength="50" autocomplete="off" placeholder="就诊人姓名"'))}
        ${C.row('证件类型', 'id_type', C.select('id_type', idTypes, 'resident_id'))}
        ${C.row('证件号码', 'id_number', C.input('id_number', 'type="text" maxlength="32" autocomplete="off" placeholder="证件号码"'))}
        ${C.row('手机号', 'phone', C.input('phone', 'type="tel" inputmode="numeric" maxlength="11" autocomplete="off" placeholder="医院登记的手机号"'))}
      </form>
      <div class="yw-actions"><button type="submit" form="bind-form" class="weui-btn weui-btn_primary" id="get-code">获取验证码</button>
        <p class="yw-hint">从未在本院就诊、没有就诊卡？<a class="weui-link" href="${Y.link('card-create.html', { relation: relation })}" id="go-create">在线建档</a></p>
        <p class="yw-hint">登记的手机号已更换？请携带证件到门诊服务台更新后再绑定。</p></div>`);
    var form = Y.$('#bind-form');
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var btn = Y.$('#get-code');
      btn.disabled = true;
      var body = { method: 'identity', relation: C.value('relation'), name: C.value('name'), id_type: C.value('id_type'),
                   id_number: C.value('id_number'), phone: C.value('phone') };
      try {
        var started = await Y.sendJSON('POST', '/api/cards/bind-requests', body);
        C.track(main, started.request, { restart: 'card-bind.html' });
      } catch (e) {
        btn.disabled = false;
        C.formError(Y.$('#form-box'), form, e);
      }
    });
  });
})(window.YW, window.YWCard);
