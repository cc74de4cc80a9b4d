/* 就诊人管理: my family list (masked name, relation, masked card numbers), unbinding with a confirmation,
 * and 添加就诊人. Everything shown comes masked from the server. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '就诊人管理' });

  function cardLines(m) {
    if (!m.cards.length) return html`<span class="yw-desc">就诊卡信息将在下次绑定时显示</span>`;
    return m.cards.map(function (c) {
      var state = c.status !== 'active' && c.status_name ? html` <span class="yw-tag yw-tag_grey">${c.status_name}</span>` : '';
      return html`<span class="yw-cardline"><span class="yw-tag">${c.card_type_name}</span>${c.card_no_masked}${state}</span>`;
    });
  }
  function member(m) {
    var extra = [m.id_tail ? '证件尾号' + m.id_tail : '', m.phone_masked ? '手机' + m.phone_masked : ''].filter(Boolean).join(' · ');
    return html`<div class="weui-cell yw-member" data-patient="${m.patient_id}">
      <div class="weui-cell__bd"><span class="yw-member-name">${m.label}</span> <span class="yw-tag yw-tag_grey">${m.relation_name}</span>
        ${cardLines(m)}${extra ? html`<span class="yw-desc">${extra}</span>` : ''}</div>
      <div class="weui-cell__ft yw-ft"><button type="button" class="yw-unbind" data-unbind="${m.patient_id}" data-label="${m.label}（${m.relation_name}）">解绑</button></div></div>`;
  }

  function confirmUnbind(label) {
    return new Promise(function (resolve) {
      var box = document.createElement('div');
      document.body.appendChild(box);
      Y.render(box, html`<div class="yw-dialog" role="dialog" aria-modal="true" aria-labelledby="unbind-title">
        <div class="weui-mask"></div><div class="weui-dialog">
        <div class="weui-dialog__hd"><strong class="weui-dialog__title" id="unbind-title">解绑就诊人</strong></div>
        <div class="weui-dialog__bd">确定解绑${label}吗？解绑后将不能在公众号为其查询报告、挂号缴费，需要时可以重新添加。</div>
        <div class="weui-dialog__ft"><button type="button" class="weui-dialog__btn weui-dialog__btn_default" id="unbind-cancel">取消</button>
        <button type="button" class="weui-dialog__btn weui-dialog__btn_warn" id="unbind-ok">确定解绑</button></div></div></div>`);
      function done(ok) { box.remove(); resolve(ok); }
      Y.$('#unbind-cancel', box).addEventListener('click', function () { done(false); });
      Y.$('#unbind-ok', box).addEventListener('click', function () { done(true); });
      Y.$('#unbind-cancel', box).focus();
    });
  }

  function show(data, notice) {
    var items = data.items || [];
    var full = items.length >= data.max_patients;
    var canAdd = !full && data.binds_left_today > 0;
    Y.render(main, html`
      ${notice ? html`<div class="yw-ok" role="status" id="cards-notice">${notice}</div>` : ''}
      <div class="weui-cells__title yw-h2">我的就诊人（${items.length}/${data.max_patients}）</div>
      <div class="weui-cells" id="family">${items.length ? items.map(member) : Y.none('您还没有添加就诊人。添加后可以为本人和家人查询报告、预约挂号。')}</div>
      <div class="yw-actions">
        ${canAdd ? html`<a class="weui-btn weui-btn_primary" href="card-bind.html" id="add-patient">添加就诊人</a>`
          : html`<button type="button" class="weui-btn weui-btn_primary weui-btn_disabled" disabled id="add-patient">添加就诊人</button>`}
        <p class="yw-hint" id="cards-limit">${full ? '每个微信账号最多添加' + data.max_patients + '位就诊人，请先解绑不再需要的就诊人。'
          : data.binds_left_today > 0 ? '今天还可以添加' + data.binds_left_today + '次。' : '今天的添加次数已用完，请明天再试。'}</p>
      </div>`);
    Y.$$('[data-unbind]', main).forEach(function (b) {
      b.addEventListener('click', async function () {
        if (!(await confirmUnbind(b.getAttribute('data-label')))) return;
        b.disabled = true;
        try {
          await Y.sendJSON('DELETE', '/api/cards/' + encodeURIComponent(b.getAttribute('data-unbind')));
          show(await Y.getJSON('/api/cards'), '已解绑 ' + b.getAttribute('data-label'));
        } catch (e) {
          b.disabled = false;
          var msg = e instanceof Y.ApiError ? e.message : '解绑失败，请稍后重试';
          Y.render(Y.$('#cards-limit'), html`<span class="yw-warn" role="alert">${msg}</span>`);
        }
      });
    });
  }

  Y.run(main, async function () {
    show(await Y.getJSON('/api/cards'), Y.query('added') ? '添加成功' : '');
  });
})(window.YW);
