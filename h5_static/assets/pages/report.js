/* 报告详情 (?patient_id=&id=): lab items with the laboratory's flags and reference ranges, or exam findings and
 * conclusion; amendment note; 下载PDF. Results are shown as reported, never interpreted. */
(function (Y) {
  'use strict';
  var html = Y.html;
  var main = Y.page({ title: '报告详情' });

  function labTable(items) {
    return html`<table class="yw-lab" id="lab-items"><thead><tr><th scope="col">项目</th><th scope="col">结果</th><th scope="col">参考范围</th><th scope="col">提示</th></tr></thead>
      <tbody>${items.map(function (i) {
        var cls = (i.abnormal ? 'yw-abnormal' : '') + (i.critical ? ' yw-critical' : '');
        return html`<tr class="${cls}"><td>${i.name}</td><td class="yw-value">${i.value}${i.unit ? html`<span class="yw-unit">${i.unit}</span>` : ''}</td>
          <td>${i.reference_range || '—'}</td><td class="yw-flag">${i.flag_text}</td></tr>`;
      })}</tbody></table>`;
  }
  function text(title, id, value) {
    return value ? html`<div class="weui-cells__title">${title}</div><div class="yw-text" id="${id}">${value}</div>` : '';
  }

  Y.run(main, async function () {
    var id = Y.needId('报告');
    var patientId = Y.query('patient_id');
    if (!patientId) throw new Y.ApiError('MISSING', '链接不完整，无法找到该报告', 0);
    var back = Y.link('reports.html', { patient_id: patientId });
    var base = '/api/patients/' + encodeURIComponent(patientId) + '/reports/' + encodeURIComponent(id);
    var data;
    try {
      data = await Y.getJSON(base);
    } catch (e) {
      if (!(e instanceof Y.ApiError) || e.status !== 409) throw e;
      Y.setTitle('暂不能查看');
      Y.msg(main, { icon: 'waiting', title: e.message, home: true });
      Y.render(Y.$('.weui-btn-area', main), html`<a href="${back}" class="weui-btn weui-btn_primary">返回报告列表</a><a href="index.html" class="weui-btn weui-btn_default">返回首页</a>`);
      return;
    }
    var r = data.report || {};
    var p = data.patient || {};
    var items = r.items || [];
    Y.setTitle(r.title || '报告详情');
    var staff = [r.reported_by ? '报告：' + r.reported_by : '', r.reviewed_by ? '审核：' + r.reviewed_by : ''].filter(Boolean).join('　');
    Y.render(main, html`
      <div class="yw-hero"><h1 id="report-title">${r.title}<span class="yw-tag yw-tag_grey">${r.category_name}</span></h1>
        <div class="yw-sub">${p.label}${p.relation_name ? '（' + p.relation_name + '）' : ''}</div></div>
      <div class="yw-meta">${r.finalized_at ? html`<div>报告时间：${Y.fmtTime(r.finalized_at)}</div>` : ''}${r.ordered_at ? html`<div>开单时间：${Y.fmtTime(r.ordered_at)}</div>` : ''}
        ${r.specimen ? html`<div>标本：${r.specimen}</div>` : ''}${r.modality || r.body_part ? html`<div>检查：${[r.modality, r.body_part].filter(Boolean).join(' ')}</div>` : ''}
        ${staff ? html`<div>${staff}</div>` : ''}</div>
      ${data.live ? '' : html`<div class="yw-asof" id="as-of" role="status">医院系统暂时无法连接，以下是 ${Y.fmtTime(data.as_of)} 查询到的结果，可能不是最新。</div>`}
      ${r.amendment_note ? html`<div class="yw-note" id="amendment" role="note">${r.amendment_note}</div>` : ''}
      ${items.length ? html`<div class="weui-cells__title">检验结果${r.abnormal_items && r.abnormal_items.length ? html`（<span class="yw-warn" id="abnormal-count">${r.abnormal_items.length}项异常</span>）` : ''}</div>${labTable(items)}` : ''}
      ${text('检查所见', 'findings', r.findings)}
      ${text(items.length ? '备注' : '诊断意见', 'conclusion', r.conclusion)}
      <div class="weui-cells__tips">结果按医院报告原样显示，↑偏高、↓偏低为检验科标注。如有疑问，请咨询您的医生。</div>
      ${r.pdf_available ? html`<div class="yw-pdf"><button type="button" class="weui-btn weui-btn_default" id="pdf-btn">下载PDF</button><p class="weui-cells__tips" id="pdf-msg" role="status"></p></div>` : ''}
      <div class="yw-pdf"><a class="weui-btn weui-btn_default" href="${back}">返回报告列表</a></div>`);
    Y.footer(data.as_of);
    var btn = Y.$('#pdf-btn');
    if (btn) btn.addEventListener('click', function () {
      btn.disabled = true;
      Y.render(Y.$('#pdf-msg'), '正在获取报告PDF…');
      Y.getJSON(base + '/pdf').then(function (link) {
        Y.render(Y.$('#pdf-msg'), '');
        window.location.href = link.url;
      }, function (e) {
        Y.render(Y.$('#pdf-msg'), e instanceof Y.ApiError ? e.message : '暂时无法获取报告PDF，请稍后再试');
      }).then(function () { btn.disabled = false; });
    });
  });
})(window.YW);
