/* WeChat simulator page: choose a test user, act as them towards the official account, watch the chat.
   Talks only to this origin: /_sim/api/* (state, timeline, send) and /_fake/* (config, calls). */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var STORE_KEY = "wechatSim.openid";
  var SOURCE_LABELS = { passive: "被动回复", custom: "客服消息", template: "模板消息", mass: "群发消息" };
  var MEDIA_LABELS = { image: "图片", voice: "语音", video: "视频", music: "音乐", mpnews: "图文消息", mpvideo: "视频" };
  var UNSUPPORTED = {
    scancode_push: "扫码推事件", scancode_waitmsg: "扫码带提示", pic_sysphoto: "系统拍照发图",
    pic_photo_or_album: "拍照或者相册发图", pic_weixin: "微信相册发图", location_select: "发送位置",
    media_id: "下发素材消息", view_limited: "跳转图文消息", article_id: "发布后的图文消息",
    article_view_limited: "发布后的图文消息", miniprogram: "小程序"
  };

  var S = { state: null, openid: null, user: null, lastId: 0, rendered: {}, menuId: -1, busy: false };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "className") { node.className = attrs[k]; }
      else if (k.slice(0, 2) === "on") { node.addEventListener(k.slice(2), attrs[k]); }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  function api(method, url, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) { throw new Error((data && data.error) || ("HTTP " + res.status)); }
        return data;
      });
    });
  }

  function hhmm(epoch) {
    var d = new Date(epoch * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  // ------------------------------------------------------------------ opening pages as the user
  function openUrl(url) { return "/_sim/open?" + new URLSearchParams({ openid: S.openid, url: url }).toString(); }

  function openWebview(url, title) {
    if (!/^https?:\/\//.test(url || "")) { return; }
    $("webview-title").textContent = title || url;
    $("webview-frame").src = openUrl(url);
    $("webview-newtab").href = openUrl(url);
    $("webview").hidden = false;
  }

  function linkButton(url, label) {
    return el("a", { href: openUrl(url), className: "sim-link", onclick: function (ev) { ev.preventDefault(); openWebview(url, label); } },
      [label]);
  }

  /* Text as WeChat shows it: <a href="…">label</a> and bare http(s) URLs become links; everything else is text. */
  function richText(text) {
    var frag = document.createDocumentFragment();
    var re = /<a\s+href=["']([^"']+)["'][^>]*>([\s\S]*?)<\/a>|(https?:\/\/[^\s<>"']+)/g;
    var last = 0, m;
    while ((m = re.exec(text)) !== null) {
      frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(m[1] ? linkButton(m[1], m[2] || m[1]) : linkButton(m[3], m[3]));
      last = re.lastIndex;
    }
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  // ------------------------------------------------------------------ timeline
  function accountAvatar() { return el("div", { className: "avatar", "aria-hidden": "true", text: (S.state.account.name || "公").slice(0, 1) }); }
  function userAvatar() { return el("div", { className: "avatar", "aria-hidden": "true", text: (S.user ? S.user.nickname : "我").slice(0, 1) }); }

  function xmlDetails(xml) {
    return xml ? el("details", { className: "xml" }, [el("summary", { text: "XML" }), el("pre", { text: xml })]) : null;
  }

  function bubbleFor(e) {
    if (e.kind === "text") { var b = el("div", { className: "bubble" }); b.appendChild(richText(e.content)); return b; }
    if (e.kind === "location") { return el("div", { className: "bubble", text: "📍 " + (e.label || "位置") + "\n" + e.lat + ", " + e.lng }); }
    if (e.kind === "news") {
      var wrap = el("div", { className: "stack" });
      e.articles.forEach(function (a) {
        var card = el("article", { className: "card news-card" }, [
          el("h3", { className: "card__title", text: a.title || "（无标题）" }),
          a.picurl ? el("div", { className: "card__pic", text: "图文封面" }) : null,
          a.description ? el("p", { className: "card__desc", text: a.description }) : null
        ]);
        if (a.url) { card.appendChild(el("button", { type: "button", className: "card__link", text: "阅读全文 ›", onclick: function () { openWebview(a.url, a.title); } })); }
        wrap.appendChild(card);
      });
      return wrap;
    }
    if (e.kind === "template") {
      var kv = el("dl", { className: "kv" });
      Object.keys(e.data || {}).forEach(function (k) { kv.appendChild(el("dt", { text: k })); kv.appendChild(el("dd", { text: e.data[k] })); });
      var card = el("article", { className: "card template-card" }, [
        el("h3", { className: "card__title", text: e.title || "模板消息" }), kv,
        el("p", { className: "tag", text: "模板 " + e.template_id })
      ]);
      if (e.url) { card.appendChild(el("button", { type: "button", className: "card__link", text: "详情 ›", onclick: function () { openWebview(e.url, e.title || "模板消息"); } })); }
      return card;
    }
    var label = MEDIA_LABELS[e.msgtype || e.kind] || e.kind;
    return el("div", { className: "bubble", text: "[" + label + "] " + (e.title || e.media_id || "") });
  }

  function renderEntry(e) {
    if (S.rendered[e.id]) { return; }
    S.rendered[e.id] = true;
    S.lastId = Math.max(S.lastId, e.id);
    var tl = $("timeline");
    var empty = tl.querySelector(".empty");
    if (empty) { empty.remove(); }
    var node;
    if (e.kind === "error") {
      node = el("div", { className: "error", role: "alert" }, [
        el("strong", { text: "公众号服务器出错" }), el("div", { text: e.content }),
        e.status ? el("div", { text: "HTTP " + e.status }) : null,
        e.body ? el("pre", { text: e.body }) : null
      ]);
    } else if (e.kind === "event" || e.kind === "note") {
      var who = e.direction === "in" && S.user ? S.user.nickname + " " : "";
      node = el("div", { className: "event" }, [el("span", { text: who + e.content }), xmlDetails(e.xml)]);
    } else if (e.direction === "in") {
      node = el("div", { className: "row row--in" }, [userAvatar(), el("div", { className: "stack" }, [bubbleFor(e), xmlDetails(e.xml)])]);
    } else {
      var tag = el("span", { className: "tag", text: (SOURCE_LABELS[e.source] || "") + " · " + hhmm(e.at) });
      node = el("div", { className: "row row--out" }, [accountAvatar(), el("div", { className: "stack" }, [bubbleFor(e), tag])]);
    }
    node.setAttribute("data-entry", e.id);
    node.setAttribute("data-source", e.source);
    tl.appendChild(node);
    tl.scrollTop = tl.scrollHeight;
  }

  function clearTimeline() {
    S.rendered = {};
    S.lastId = 0;
    $("timeline").replaceChildren(el("p", { className: "empty", text: "还没有消息。先关注公众号，或在下方发消息、点菜单。" }));
  }

  function localError(message) {
    $("timeline").appendChild(el("div", { className: "error", role: "alert" }, [el("strong", { text: "操作失败" }), el("div", { text: message })]));
    $("timeline").scrollTop = $("timeline").scrollHeight;
  }

  // ------------------------------------------------------------------ user, follow panel, menu
  function showUser(user) {
    S.user = user;
    var badge = $("user-status");
    badge.textContent = user.subscribed ? "已关注" : "未关注";
    badge.className = "badge" + (user.subscribed ? " badge--on" : "");
    $("follow-panel").hidden = user.subscribed;
    $("bottombar").hidden = !user.subscribed;
    if (!user.subscribed) { $("more-panel").hidden = true; $("submenu").hidden = true; }
  }

  function setInputMode(typing) {
    var hasMenu = S.state && S.state.menu.length > 0;
    typing = typing || !hasMenu;
    $("input-bar").hidden = !typing;
    $("menu-bar").hidden = typing;
    $("toggle-input").hidden = !hasMenu;
    $("toggle-input").textContent = typing ? "☰" : "⌨";
    $("toggle-input").setAttribute("aria-label", typing ? "切换到公众号菜单" : "切换到键盘输入");
    $("submenu").hidden = true;
    if (!typing) { $("more-panel").hidden = true; }
  }

  function press(button) {
    $("submenu").hidden = true;
    if (button.type === "click") { send("click", { key: button.key }); return; }
    if (button.type === "view") { send("view", { url: button.url }).then(function () { openWebview(button.url, button.name); }); return; }
    localError("模拟器暂不支持该菜单类型：" + (UNSUPPORTED[button.type] || button.type) + "（" + button.type + "）");
  }

  function renderMenu() {
    var bar = $("menu-bar");
    bar.replaceChildren();
    S.state.menu.forEach(function (top) {
      var subs = top.sub_button || [];
      var btn = el("button", { type: "button", className: "menubar__btn" + (subs.length ? " has-sub" : ""), text: top.name });
      btn.addEventListener("click", function () {
        if (!subs.length) { press(top); return; }
        var menu = $("submenu");
        if (!menu.hidden && menu.getAttribute("data-for") === top.name) { menu.hidden = true; return; }
        menu.replaceChildren.apply(menu, subs.map(function (s) {
          return el("button", { type: "button", role: "menuitem", text: s.name, onclick: function () { press(s); } });
        }));
        menu.setAttribute("data-for", top.name);
        var phone = document.querySelector(".phone").getBoundingClientRect();
        var rect = btn.getBoundingClientRect();
        menu.style.left = Math.max(4, rect.left - phone.left + rect.width / 2 - 75) + "px";
        menu.hidden = false;
      });
      bar.appendChild(btn);
    });
  }

  function applyState(state) {
    var hadMenu = S.state !== null && S.state.menu.length > 0;
    S.state = state;
    S.menuId = state.menu_id;
    $("account-name").textContent = state.account.name;
    $("follow-name").textContent = state.account.name;
    $("account-id").textContent = state.account.id;
    $("webhook-url").textContent = state.webhook_url || "（未配置）";
    document.querySelectorAll('input[name="mode"]').forEach(function (r) { r.checked = r.value === state.mode; });
    var select = $("user-select");
    select.replaceChildren.apply(select, state.users.map(function (u) {
      return el("option", { value: u.openid, text: u.nickname + (u.subscribed ? "" : "（未关注）") });
    }));
    var scene = $("follow-scene");
    var chosen = scene.value;
    scene.replaceChildren.apply(scene, [el("option", { value: "", text: "搜索公众号后关注" })].concat(state.scenes.map(function (s) {
      return el("option", { value: s.scene, text: "扫描" + s.label });
    })));
    scene.value = chosen;
    renderMenu();
    // WeChat opens on the menu when the account has one; keep what the user chose otherwise.
    setInputMode(hadMenu ? !$("input-bar").hidden : false);
  }

  function loadState() { return api("GET", "/_sim/api/state").then(applyState); }

  function selectUser(openid) {
    S.openid = openid;
    $("user-select").value = openid;
    try { localStorage.setItem(STORE_KEY, openid); } catch (e) { /* private mode */ }
    clearTimeline();
    return poll();
  }

  function poll() {
    if (!S.openid) { return Promise.resolve(); }
    var openid = S.openid;
    return api("GET", "/_sim/api/timeline?" + new URLSearchParams({ openid: openid, after: S.lastId }).toString())
      .then(function (data) {
        if (openid !== S.openid) { return; }
        showUser(data.user);
        data.entries.forEach(renderEntry);
        if (data.menu_id !== S.menuId) { return loadState(); }
      });
  }

  // ------------------------------------------------------------------ actions
  function send(action, params) {
    if (S.busy) { return Promise.resolve(); }
    S.busy = true;
    document.querySelectorAll(".primary-btn").forEach(function (b) { b.disabled = true; });
    var body = Object.assign({ openid: S.openid, action: action }, params || {});
    return api("POST", "/_sim/api/send", body)
      .then(function (data) { data.entries.forEach(renderEntry); return poll(); })
      .then(function () { if (action === "subscribe" || action === "unsubscribe" || action === "scan") { return loadState(); } })
      .catch(function (err) { localError(err.message); })
      .then(function () {
        S.busy = false;
        document.querySelectorAll(".primary-btn").forEach(function (b) { b.disabled = false; });
      });
  }

  function openSheet(title, fields, onOk) {
    $("sheet-title").textContent = title;
    $("sheet-body").replaceChildren.apply($("sheet-body"), fields);
    $("sheet").hidden = false;
    $("sheet-ok").onclick = function () {
      var error = onOk();
      if (!error) { $("sheet").hidden = true; }
    };
    var first = $("sheet-body").querySelector("input, select");
    if (first) { first.focus(); }
  }

  function presetPicker(presets, labelOf, onPick) {
    var select = el("select", { "aria-label": "预设" }, presets.map(function (p, i) { return el("option", { value: String(i), text: labelOf(p) }); }));
    select.addEventListener("change", function () { onPick(presets[Number(select.value)]); });
    return select;
  }

  function locationSheet(action) {
    var lat = el("input", { type: "number", step: "0.000001", "aria-label": "纬度" });
    var lng = el("input", { type: "number", step: "0.000001", "aria-label": "经度" });
    var label = el("input", { type: "text", "aria-label": "地点名称" });
    function pick(p) { lat.value = p.lat; lng.value = p.lng; label.value = p.label; }
    var picker = presetPicker(S.state.locations, function (p) { return p.label; }, pick);
    pick(S.state.locations[0]);
    var fields = [el("label", {}, ["预设地点 ", picker]), el("label", {}, ["纬度 ", lat]), el("label", {}, ["经度 ", lng])];
    if (action === "location") { fields.push(el("label", {}, ["地点名称 ", label])); }
    openSheet(action === "location" ? "发送位置" : "上报地理位置（LOCATION 事件）", fields, function () {
      if (lat.value === "" || lng.value === "") { return "empty"; }
      send(action, { lat: Number(lat.value), lng: Number(lng.value), label: label.value });
      return null;
    });
  }

  function scanSheet() {
    var scene = el("input", { type: "text", maxlength: "64", "aria-label": "场景值" });
    var picker = presetPicker(S.state.scenes, function (s) { return s.label; }, function (s) { scene.value = s.scene; });
    scene.value = S.state.scenes.length ? S.state.scenes[0].scene : "";
    openSheet("扫描带参数二维码", [el("label", {}, ["二维码 ", picker]), el("label", {}, ["场景值 ", scene])], function () {
      if (!scene.value.trim()) { return "empty"; }
      send("scan", { scene: scene.value.trim() });
      return null;
    });
  }

  function more(kind) {
    $("more-panel").hidden = true;
    if (kind === "image") { send("image"); }
    else if (kind === "voice") {
      var text = el("input", { type: "text", "aria-label": "语音识别结果" });
      openSheet("发送语音", [el("label", {}, ["语音识别结果（可留空） ", text])], function () { send("voice", { recognition: text.value }); return null; });
    }
    else if (kind === "location" || kind === "location_event") { locationSheet(kind); }
    else if (kind === "scan") { scanSheet(); }
    else if (kind === "unsubscribe") { send("unsubscribe"); }
  }

  function newUser() {
    var name = el("input", { type: "text", maxlength: "20", "aria-label": "昵称" });
    openSheet("新建测试用户", [el("label", {}, ["昵称 ", name])], function () {
      if (!name.value.trim()) { return "empty"; }
      api("POST", "/_sim/api/users", { nickname: name.value.trim() })
        .then(function (user) { return loadState().then(function () { return selectUser(user.openid); }); })
        .catch(function (err) { localError(err.message); });
      return null;
    });
  }

  function loadCalls() {
    return api("GET", "/_fake/calls").then(function (data) {
      var items = data.calls.slice(-20).reverse().map(function (c) {
        var text = hhmm(c.at) + " " + c.method + " " + c.path + (c.errcode ? " → errcode " + c.errcode : " → ok");
        return el("li", { className: c.errcode ? "err" : "", text: text });
      });
      $("calls").replaceChildren.apply($("calls"), items.length ? items : [el("li", { text: "还没有接口调用" })]);
    });
  }

  // ------------------------------------------------------------------ SMS outbox (cards: one-time codes)
  var SMS = { lastId: 0, count: 0, toastTimer: null, loaded: false };

  function announce(m) {
    var toast = $("sms-toast");
    toast.textContent = "短信 · " + m.phone + "：" + m.text;
    toast.hidden = false;
    clearTimeout(SMS.toastTimer);
    SMS.toastTimer = setTimeout(function () { toast.hidden = true; }, 8000);
  }

  function pollSms() {
    return api("GET", "/_fake/sms?" + new URLSearchParams({ after: SMS.lastId }).toString()).then(function (data) {
      var list = $("sms-list");
      data.messages.forEach(function (m) {
        var empty = list.querySelector(".sms__empty");
        if (empty) { empty.remove(); }
        SMS.lastId = Math.max(SMS.lastId, m.id);
        SMS.count += 1;
        list.insertBefore(el("li", { "data-phone": m.phone }, [
          el("span", { className: "sms__meta", text: hhmm(m.at) + " 发给 " + m.phone }), m.text
        ]), list.firstChild);
        if (SMS.loaded) { announce(m); } // messages from before this page was opened are listed, not announced
      });
      SMS.loaded = true;
      $("sms-count").textContent = String(SMS.count);
      $("sms-count").hidden = SMS.count === 0;
    });
  }

  function toggleSms() {
    var panel = $("sms-panel");
    panel.hidden = !panel.hidden;
    $("sms-btn").setAttribute("aria-expanded", String(!panel.hidden));
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("sms-btn").addEventListener("click", toggleSms);
    $("sms-close").addEventListener("click", toggleSms);
    $("sms-toast").addEventListener("click", function () { $("sms-toast").hidden = true; if ($("sms-panel").hidden) { toggleSms(); } });
    $("user-select").addEventListener("change", function () { selectUser($("user-select").value); });
    $("new-user-btn").addEventListener("click", newUser);
    $("follow-btn").addEventListener("click", function () {
      var scene = $("follow-scene").value;
      send("subscribe", scene ? { scene: scene } : {});
    });
    $("toggle-input").addEventListener("click", function () { setInputMode($("input-bar").hidden); });
    $("input-bar").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = $("text-input");
      var content = input.value.trim();
      if (!content) { return; }
      input.value = "";
      send("text", { content: content });
    });
    $("more-btn").addEventListener("click", function () {
      var panel = $("more-panel");
      panel.hidden = !panel.hidden;
      $("more-btn").setAttribute("aria-expanded", String(!panel.hidden));
    });
    document.querySelectorAll("[data-more]").forEach(function (b) {
      b.addEventListener("click", function () { more(b.getAttribute("data-more")); });
    });
    $("settings-btn").addEventListener("click", function () {
      var panel = $("settings");
      panel.hidden = !panel.hidden;
      $("settings-btn").setAttribute("aria-expanded", String(!panel.hidden));
      if (!panel.hidden) { loadCalls().catch(function (err) { localError(err.message); }); }
    });
    $("refresh-calls").addEventListener("click", function () { loadCalls().catch(function (err) { localError(err.message); }); });
    document.querySelectorAll('input[name="mode"]').forEach(function (r) {
      r.addEventListener("change", function () {
        api("POST", "/_fake/config", { encrypt_mode: r.value }).then(loadState).catch(function (err) { localError(err.message); });
      });
    });
    $("sheet-cancel").addEventListener("click", function () { $("sheet").hidden = true; });
    $("webview-close").addEventListener("click", function () { $("webview").hidden = true; $("webview-frame").src = "about:blank"; });
  }

  function start() {
    wire();
    loadState().then(function () {
      var wanted = new URLSearchParams(location.search).get("openid");
      var stored = null;
      try { stored = localStorage.getItem(STORE_KEY); } catch (e) { /* private mode */ }
      var known = S.state.users.map(function (u) { return u.openid; });
      var openid = [wanted, stored].filter(function (o) { return o && known.indexOf(o) >= 0; })[0] || known[0];
      return selectUser(openid);
    }).catch(function (err) { localError("无法加载模拟器：" + err.message); });
    setInterval(function () { poll().catch(function () { /* the next poll retries */ }); }, POLL_MS);
    pollSms().catch(function () { /* the next poll retries */ });
    setInterval(function () { pollSms().catch(function () { /* the next poll retries */ }); }, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
