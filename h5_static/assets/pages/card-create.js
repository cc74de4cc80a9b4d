/* 在线建档 (a new patient record and electronic card): the form (with 监护人 for children under 14 and newborns
 * without a document) → a code to the phone typed here proves it is the user's → the hospital creates the
 * record → added to the family list. */
(function (Y, C) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '在线建档' });
  var GUARDIAN_UNDER = 14;
  var GUARDIAN_RELATIONS = [{ value: 'father', name: '父亲' }, { value: 'mother', name: '母亲' }, { value: 'other_guardian', name: '其他监护人' }];

  function birthOf(idType, idNumber, birthField) {
    var m = idType === 'resident_id' && /^\d{6}(\d{4})(\d{2})(\d{2})\d{3}[\dXx]$/.exec(idNumber);
    var text = m ? m[1] + '-' + m[2] + '-' + m[3] : birthField;
    var d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || '');
    return d ? { y: +d[1], m: +d[2], d: +d[3] } : null;
  }
  function ageOf(b) {
    var now = new Date();
    var age = now.getFullYear() - b.y;
    if (now.getMonth() + 1 < b.m || (now.getMonth() + 1 === b.m && now.getDate() < b.d)) age -= 1;
    return age;
  }

  Y.run(main, async function () {
    if (await C.resume(main, { restart: 'card-create.html' })) return;
    var data = await C.precheck(main);
    if (!data) return;
    var idTypes = data.id_types;
    var docTypes = idTypes.filter(function (t) { return t.value !== 'none'; });
    Y.render(main, html`
      <div class="weui-cells__title yw-h2">在线建档（办理电子就诊卡）</div>
      <p class="yw-hint">适用于从未在本院就诊的患者。已有就诊卡请<a class="weui-link" href="card-bind.html">直接绑定</a>。</p>
      <div id="form-box"></div>
      <form class="weui-cells weui-cells_form yw-form" id="create-form" novalidate>
        ${C.row('与您的关系', 'relation', C.select('relation', [{ value: '', name: '请选择' }].concat(data.relationOptions), Y.query('relation')))}
        ${C.row('姓名', 'name', C.input('name', 'type="text" maxlength="50" autocomplete="off" placeholder="就诊人姓名"'))}
        ${C.row('证件类型', 'id_type', C.select('id_type', idTypes, 'resident_id'))}
        ${C.row('证件号码', 'id_number', C.input('id_number', 'type="text" maxlength="32" autocomplete="off" placeholder="证件号码"'))}
        <div id="person-extra">
        ${C.row('性别', 'gender', C.select('gender', [{ value: '', name: '请选择' }, { value: 'male', name: '男' }, { value: 'female', name: '女' }], ''))}
        ${C.row('出生日期', 'birth_date', C.input('birth_date', 'type="date"'))}
        </div>
        ${C.row('手机号', 'phone', C.input('phone', 'type="tel" inputmode="numeric" maxlength="11" autocomplete="off" placeholder="接收验证码的手机号"'))}
        ${C.row('住址', 'address', C.input('address', 'type="text" maxlength="200" autocomplete="off" placeholder="选填"'))}
      </form>
      <p class="yw-hint" id="extra-hint">居民身份证可不填性别和出生日期，将从证件号码中读取。</p>
      <div id="guardian-box" hidden>
        <div class="weui-cells__title yw-h2" data-row="guardian">监护人信息</div>
        <p class="yw-hint">未满${GUARDIAN_UNDER}周岁或无证件（新生儿）的就诊人，需要填写监护人信息。</p>
        <div class="weui-cells weui-cells_form yw-form">
          ${C.row('监护人', 'guardian_relationship', C.select('guardian_relationship', [{ value: '', name: '请选择' }].concat(GUARDIAN_RELATIONS), ''))}
          ${C.row('姓名', 'guardian_name', C.input('guardian_name', 'type="text" maxlength="50" autocomplete="off" placeholder="监护人姓名"'))}
          ${C.row('证件类型', 'guardian_id_type', C.select('guardian_id_type', docTypes, 'resident_id'))}
          ${C.row('证件号码', 'guardian_id_number', C.input('guardian_id_number', 'type="text" maxlength="32" autocomplete="off" placeholder="监护人证件号码"'))}
          ${C.row('手机号', 'guardian_phone', C.input('guardian_phone', 'type="tel" inputmode="numeric" maxlength="11" autocomplete="off" placeholder="监护人手机号"'))}
        </div>
      </div>
      <div class="yw-actions"><button type="submit" form="create-form" class="weui-btn weui-btn_primary" id="get-code">获取验证码</button>
        <p class="yw-hint">验证码将发送到上面填写的手机号，验证通过后医院为就诊人建立档案和电子就诊卡。</p></div>`);
    var form = Y.$('#create-form');

    function needsGuardian() {
      var idType = C.value('id_type');
      if (idType === 'none') return true;
      var b = birthOf(idType, C.value('id_number'), C.value('birth_date'));
      return !!b && ageOf(b) < GUARDIAN_UNDER;
    }
    function update() {
      var resident = C.value('id_type') === 'resident_id';
      Y.$('#extra-hint').hidden = !resident;
      Y.$('[data-row="id_number"]').hidden = C.value('id_type') === 'none';
      Y.$('#guardian-box').hidden = !needsGuardian();
    }
    ['id_type', 'id_number', 'birth_date'].forEach(function (id) {
      Y.$('#' + id).addEventListener('input', update);
      Y.$('#' + id).addEventListener('change', update);
    });
    update();

    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var btn = Y.$('#get-code');
      btn.disabled = true;
      var body = { method: 'create', relation: C.value('relation'), name: C.value('name'), id_type: C.value('id_type'),
                   id_number: C.value('id_type') === 'none' ? null : C.value('id_number'),
                   gender: C.value('gender') || null, birth_date: C.value('birth_date') || null,
                   phone: C.value('phone'), address: C.value('address') || null, guardian: null };
      if (needsGuardian()) {
        body.guardian = { relationship: C.value('guardian_relationship'), name: C.value('guardian_name'),
                          id_type: C.value('guardian_id_type'), id_number: C.value('guardian_id_number'),
                          phone: C.value('guardian_phone') };
      }
      try {
        var started = await Y.sendJSON('POST', '/api/cards/bind-requests', body);
        C.track(main, started.request, { restart: 'card-create.html' });
      } catch (e) {
        btn.disabled = false;
        C.formError(Y.$('#form-box'), Y.$('#yw-main'), e);
      }
    });
  });
})(window.YW, window.YWCard);
