/* 科室导航: departments grouped by parent, client-side search by name, campus filter (?campus_id=). */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '科室导航' });
  var campusId = Y.query('campus_id');
  var keyword = '';

  function filter(box) {
    var q = keyword.trim().toLowerCase();
    var shown = 0;
    Y.$$('.yw-group', box).forEach(function (g) {
      var n = 0;
      Y.$$('.yw-dept', g).forEach(function (row) {
        var hit = !q || row.getAttribute('data-name').toLowerCase().indexOf(q) >= 0;
        row.classList.toggle('yw-hidden', !hit);
        if (hit) n++;
      });
      g.classList.toggle('yw-hidden', !n);
      shown += n;
    });
    var none = Y.$('#dept-none', box);
    Y.render(none, shown ? '' : Y.empty(q ? '没有找到名称包含“' + keyword.trim() + '”的科室' : '该院区暂无可预约科室'));
  }

  /* The API groups per campus, so 全部院区 can list 内科 twice: name those 内科（东院区）. */
  function groupTitle(g, repeated) {
    var deps = g.departments || [];
    var one = deps.length && deps.every(function (x) { return x.campus_id === deps[0].campus_id; });
    return repeated && one ? g.name + '（' + deps[0].campus_name + '）' : g.name;
  }

  function bindSearch(box) {
    var bar = Y.$('#search-bar', box);
    var input = Y.$('#search-input', box);
    function focusing(on) { bar.classList.toggle('weui-search-bar_focusing', on); }
    function set(v) { input.value = v; keyword = v; filter(box); }
    Y.$('#search-label', box).addEventListener('click', function (ev) { ev.preventDefault(); focusing(true); input.focus(); });
    // while a Chinese IME is composing, the box holds pinyin: filter when the characters are chosen
    input.addEventListener('input', function (ev) { if (!ev.isComposing) { keyword = input.value; filter(box); } });
    input.addEventListener('compositionend', function () { keyword = input.value; filter(box); });
    input.addEventListener('blur', function () { if (!input.value) focusing(false); });
    Y.$('#search-form', box).addEventListener('submit', function (ev) { ev.preventDefault(); input.blur(); });
    Y.$('#search-clear', box).addEventListener('click', function () { set(''); input.focus(); });
    Y.$('#search-cancel', box).addEventListener('click', function () { set(''); focusing(false); input.blur(); });
    if (keyword) { input.value = keyword; focusing(true); }
  }

  function load() {
    return Y.run(main, async function () {
      var data = await Y.getJSON(Y.link('/api/departments', { campus_id: campusId }));
      var groups = data.groups || [];
      if (!data.as_of && !groups.length) throw Y.pending();
      var campuses = data.campuses || [];
      var count = {};
      groups.forEach(function (g) { count[g.name] = (count[g.name] || 0) + 1; });
      Y.render(main, html`
        <div class="weui-search-bar" id="search-bar">
          <form class="weui-search-bar__form" id="search-form" role="search" action="">
            <div class="weui-search-bar__box">
              <i class="weui-icon-search"></i>
              <input type="search" class="weui-search-bar__input" id="search-input" placeholder="输入科室名称" aria-label="搜索科室" autocomplete="off">
              <span class="weui-search-bar__mask"></span>
              <button type="button" class="weui-icon-clear yw-btn-reset" id="search-clear" aria-label="清除"></button>
            </div>
            <label class="weui-search-bar__label" id="search-label" for="search-input"><i class="weui-icon-search"></i><span class="weui-search-bar__label__text">搜索科室</span></label>
          </form>
          <button type="button" class="weui-search-bar__cancel-btn yw-btn-reset" id="search-cancel">取消</button>
        </div>
        ${campuses.length > 1 ? Y.campusTabs(campuses, campusId, 'departments.html') : ''}
        ${Y.query('for') === 'doctor' ? html`<div class="weui-cells__tips yw-tip">请先选择科室，进入后可查看该科室的医生</div>` : ''}
        <div id="dept-list">${groups.map(function (g) {
          return html`<section class="yw-group" data-group="${g.group_id}"><div class="weui-cells__title">${groupTitle(g, count[g.name] > 1)}</div>
            <div class="weui-cells">${(g.departments || []).map(function (dep) { return Y.deptRow(dep, !campusId); })}</div></section>`;
        })}<div id="dept-none"></div></div>`);
      bindSearch(main);
      Y.bindTabs(main, 'departments.html', function (cid) { campusId = cid; load(); });
      filter(main);
      Y.footer(data.as_of);
    });
  }
  load();
})(window.YW);
