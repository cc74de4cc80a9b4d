"""What the official account does with each message and event: one handler per type, found through
registries keyed the way wechatpy keys its types (message type, ``event.<event>``, menu key, scene).

Handlers are small: they read the message, call the ports in ``WeChatContext`` and return a ``Reply``.
A handler must be safe to run twice for one message (the slow-path worker may run it again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from chalicelib.domain.menu import MenuKey
from chalicelib.domain.reference import GeoPoint, format_distance, nearest_campuses
from chalicelib.domain.wechat import (
    NO_REPLY,
    Article,
    InboundMessage,
    LastLocation,
    Reply,
    SceneKind,
    news,
    parse_scene,
    template_finish_state,
    text,
)
from chalicelib.services.ports import Clock, DeliveryLog, ReferenceRepository, WeChatUserRepository

Handler = Callable[[InboundMessage, "WeChatContext"], Reply]
K = TypeVar("K")

# A LOCATION event arrives each time the patient opens the chat (when location reporting is on);
# answer it only when the last known position is older than this, so the chat is not flooded.
LOCATION_EVENT_QUIET = timedelta(hours=1)
# "就近院区" uses a remembered position this recent; older ones may be from another city.
LOCATION_FRESH = timedelta(hours=6)


@dataclass(frozen=True)
class WeChatContext:
    """The ports and facts handlers need; built by ``bootstrap``."""

    users: WeChatUserRepository
    reference: ReferenceRepository
    deliveries: DeliveryLog
    clock: Clock
    page_url: Callable[[str], str]  # "departments.html" -> public H5 URL
    answer_question: Callable[[str], str | None]  # the FAQ knowledge base
    faq_topics: Callable[[], list[str]]
    hospital_name: str
    hospital_phone: str


class Registry(Generic[K]):
    """Handlers keyed by ``K``; an unknown key gets the fallback."""

    def __init__(self, fallback: Callable[[InboundMessage, WeChatContext], Reply]) -> None:
        self._handlers: dict[K, Handler] = {}
        self._fallback = fallback

    def register(self, *keys: K) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            for key in keys:
                if key in self._handlers:
                    raise ValueError(f"{key!r} already has a handler")
                self._handlers[key] = handler
            return handler

        return decorate

    def get(self, key: K) -> Handler:
        return self._handlers.get(key, self._fallback)


def _nothing(_message: InboundMessage, _ctx: WeChatContext) -> Reply:
    return NO_REPLY


MESSAGES: Registry[str] = Registry(_nothing)  # by InboundMessage.handler_key
MENU: Registry[str] = Registry(_nothing)  # by CLICK EventKey
SCENES: Registry[SceneKind] = Registry(_nothing)


def handle(message: InboundMessage, ctx: WeChatContext) -> Reply:
    """Answer one message: record the interaction, then the handler registered for its type."""
    # A follow records its own interaction; unfollows and WeChat's delivery reports are not the patient's.
    if message.handler_key not in NOT_INTERACTIONS:
        ctx.users.touch(message.openid, ctx.clock())
    return MESSAGES.get(message.handler_key)(message, ctx)


# ---- text and media ---------------------------------------------------------------------------------
NOT_INTERACTIONS = frozenset({"event.subscribe", "event.unsubscribe", "event.templatesendjobfinish",
                              "event.masssendjobfinish"})
GREETINGS = frozenset({"你好", "您好", "在吗", "在么", "hi", "hello", "哈喽", "嗨", "早上好", "下午好", "晚上好"})


@MESSAGES.register("text")
def on_text(message: InboundMessage, ctx: WeChatContext) -> Reply:
    question = message.content.strip()
    if not question:
        return NO_REPLY
    if question.lower().strip("!！。.？?~ ") in GREETINGS:
        return text(f"您好，这里是{ctx.hospital_name}。您可以直接输入问题，例如“门诊时间”“怎么停车”，"
                    "或点击下方菜单预约挂号、查报告、缴费。")
    answer = ctx.answer_question(question)
    if answer:
        return text(answer)
    topics = "、".join(f"“{t}”" for t in ctx.faq_topics()[:6])
    return text("抱歉，暂时没有找到您问题的答案。\n"
                + (f"您可以试试这样问：{topics}。\n" if topics else "")
                + f"需要医生解答请点击菜单“诊后 → 咨询医生”，紧急情况请拨打医院电话 {ctx.hospital_phone or '（见首页）'}。")


@MESSAGES.register("image", "voice", "video", "shortvideo", "link", "file")
def on_media(message: InboundMessage, ctx: WeChatContext) -> Reply:
    what = {"image": "图片", "voice": "语音", "video": "视频", "shortvideo": "视频", "link": "链接"}.get(
        message.msg_type, "文件")
    return text(f"已收到您的{what}。公众号不能直接把{what}转给医生；如需医生查看检查单、病历或症状照片，"
                "请点击菜单“诊后 → 咨询医生”发起在线咨询，并在咨询中上传。")


# ---- following -------------------------------------------------------------------------------------
def welcome(ctx: WeChatContext) -> Reply:
    return news(
        Article(f"欢迎关注{ctx.hospital_name}",
                "在这里可以：查看科室和医生、预约挂号、查询排队和报告、门诊缴费、院区导航。点击进入医院主页。",
                ctx.page_url("index.html")),
        Article("科室与医生", "按科室查找医生和出诊信息", ctx.page_url("departments.html")),
        Article("院区导航", "院区地址、电话与交通", ctx.page_url("campuses.html")),
    )


@MESSAGES.register("event.subscribe")
def on_subscribe(message: InboundMessage, ctx: WeChatContext) -> Reply:
    scene = parse_scene(message.event_key)
    ctx.users.subscribe(message.openid, ctx.clock(), scene.raw if scene else "")
    greeting = welcome(ctx)
    if scene is None:
        return greeting
    answer = SCENES.get(scene.kind)(message, ctx)
    # A follow through a scene code: the scene's answer first, then the welcome.
    return news(*answer.articles, *greeting.articles) if answer.articles else greeting


@MESSAGES.register("event.unsubscribe")
def on_unsubscribe(message: InboundMessage, ctx: WeChatContext) -> Reply:
    ctx.users.unsubscribe(message.openid, ctx.clock())  # every push checks this; nothing more is sent
    return NO_REPLY


# ---- scene codes -------------------------------------------------------------------------------------
@MESSAGES.register("event.scan")
def on_scan(message: InboundMessage, ctx: WeChatContext) -> Reply:
    scene = parse_scene(message.event_key)
    return SCENES.get(scene.kind)(message, ctx) if scene else NO_REPLY


@SCENES.register(SceneKind.DEPARTMENT)
def scene_department(message: InboundMessage, ctx: WeChatContext) -> Reply:
    scene = parse_scene(message.event_key)
    department = ctx.reference.department(scene.value) if scene else None
    if department is None or not department.active:
        return text("这个科室二维码已经失效，请到服务台咨询，或点击菜单“诊前 → 科室医生”查找科室。")
    where = department.location.display()
    return news(Article(f"{department.name}", f"位置：{where}。点击查看科室介绍、医生和到诊室的路线。" if where
                        else "点击查看科室介绍和医生。",
                        ctx.page_url(f"department.html?id={department.department_id}")))


@SCENES.register(SceneKind.CAMPUS)
def scene_campus(message: InboundMessage, ctx: WeChatContext) -> Reply:
    scene = parse_scene(message.event_key)
    campus = next((c for c in ctx.reference.campuses() if scene and c.campus_id == scene.value), None)
    if campus is None:
        return text("这个院区二维码已经失效，请点击菜单“诊前 → 就近院区”。")
    return news(Article(f"欢迎来到{campus.name}", campus.address, ctx.page_url(f"campuses.html#campus-{campus.campus_id}")))


@SCENES.register(SceneKind.CHECK_IN)
def scene_check_in(message: InboundMessage, ctx: WeChatContext) -> Reply:
    # Check-in needs the patient's appointment for today (appointments are not in the account yet).
    return text("您扫描的是诊区签到码。公众号签到即将开通，目前请在诊区自助机或分诊台刷就诊卡签到，"
                "签到后请留意叫号屏。")


@SCENES.register(SceneKind.UNKNOWN)
def scene_unknown(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return text("这个二维码不是本院的服务码，或已经失效。")


# ---- location -----------------------------------------------------------------------------------------
def nearest_campus_reply(point: GeoPoint, ctx: WeChatContext) -> Reply:
    ranked = nearest_campuses(point, ctx.reference.campuses())
    if not ranked:
        return text("院区信息正在更新，请稍后再试，或点击菜单“诊中 → 院区导航”。")
    campus, metres = ranked[0]
    lines = [f"离您最近的是{campus.name}，直线距离约 {format_distance(metres)}。", f"地址：{campus.address}"]
    if campus.phone:
        lines.append(f"电话：{campus.phone}")
    if len(ranked) > 1:
        other, other_m = ranked[1]
        lines.append(f"另有{other.name}，约 {format_distance(other_m)}。")
    lines.append(f"路线与交通：{ctx.page_url(f'campuses.html#campus-{campus.campus_id}')}")
    return text("\n".join(lines))


def _remember(message: InboundMessage, ctx: WeChatContext) -> GeoPoint | None:
    if message.latitude is None or message.longitude is None:
        return None
    point = GeoPoint(message.latitude, message.longitude)
    if not point.valid:
        return None
    ctx.users.save_location(message.openid, LastLocation(point.latitude, point.longitude, ctx.clock()))
    return point


@MESSAGES.register("location")
def on_location_message(message: InboundMessage, ctx: WeChatContext) -> Reply:
    point = _remember(message, ctx)
    return nearest_campus_reply(point, ctx) if point else text("没有读到有效的位置，请重新发送位置。")


@MESSAGES.register("event.location")
def on_location_event(message: InboundMessage, ctx: WeChatContext) -> Reply:
    before = ctx.users.get(message.openid)
    point = _remember(message, ctx)
    if point is None:
        return NO_REPLY
    quiet = before is not None and before.location is not None and ctx.clock() - before.location.at < LOCATION_EVENT_QUIET
    return NO_REPLY if quiet else nearest_campus_reply(point, ctx)


# ---- menu -------------------------------------------------------------------------------------------------
@MESSAGES.register("event.click")
def on_click(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return MENU.get(message.event_key)(message, ctx)


@MESSAGES.register("event.view")
def on_view(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return NO_REPLY  # the page opens by itself; the interaction is recorded by ``handle``


@MESSAGES.register("event.templatesendjobfinish", "event.masssendjobfinish")
def on_template_finished(message: InboundMessage, ctx: WeChatContext) -> Reply:
    if message.msg_id:
        ctx.deliveries.template_finished(message.msg_id, template_finish_state(message.status), ctx.clock())
    return NO_REPLY


@MENU.register(MenuKey.NEAREST_CAMPUS)
def menu_nearest(message: InboundMessage, ctx: WeChatContext) -> Reply:
    user = ctx.users.get(message.openid)
    if user and user.location and ctx.clock() - user.location.at < LOCATION_FRESH:
        return nearest_campus_reply(GeoPoint(user.location.latitude, user.location.longitude), ctx)
    return text("请点击输入框旁的“+”，选择“位置”发送您的当前位置，我们为您找到最近的院区。\n"
                f"也可以直接查看全部院区：{ctx.page_url('campuses.html')}")


@MENU.register("BOOKING")  # 预约挂号 was a click item before it became a page; a phone may show the old menu briefly
def menu_booking(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return news(Article("预约挂号", "选择科室或医生，查看近7天号源并在线预约；每天08:00放出第7天的号。",
                        ctx.page_url("booking.html")))


def _coming(title: str, now_how: str) -> Callable[[InboundMessage, WeChatContext], Reply]:
    def reply(_message: InboundMessage, ctx: WeChatContext) -> Reply:
        phone = f"，或拨打医院电话 {ctx.hospital_phone}" if ctx.hospital_phone else ""
        return text(f"{title}功能即将在公众号开通。{now_how}{phone}。")

    return reply


MENU.register(MenuKey.QUEUE)(_coming("排队叫号查询", "目前请留意诊区叫号屏和广播"))
MENU.register(MenuKey.ARTICLES)(_coming("健康资讯", "敬请关注本公众号的推送"))
MENU.register(MenuKey.FOLLOW_UP)(_coming("随访问卷", "如有随访需要，科室会电话联系您"))
MENU.register(MenuKey.CONSULT)(_coming("在线咨询", "目前请到门诊就诊咨询"))


@MENU.register("CARDS")  # cards: 就诊卡 was a click item before it became a page; a phone may show the old menu briefly
def menu_cards_moved(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return news(Article("就诊卡", "绑定您和家人的就诊卡，或在线建档。", ctx.page_url("cards.html")))


@MENU.register("REPORTS")  # 报告查询 was a click item before it became a page; a phone may show the old menu briefly
def menu_reports_moved(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return news(Article("报告查询", "查看您和家人的检查、检验报告。", ctx.page_url("reports.html")))


@MENU.register("PAYMENT")  # payments: 门诊缴费 was a click item before it became a page (charges.html)
def menu_payment_moved(message: InboundMessage, ctx: WeChatContext) -> Reply:
    return news(Article("门诊缴费", "查看待缴费用，在线缴费后凭电子凭条取药或检查。", ctx.page_url("charges.html")))


@MENU.register(MenuKey.FAQ)
def menu_faq(message: InboundMessage, ctx: WeChatContext) -> Reply:
    topics = ctx.faq_topics()[:10]
    if not topics:
        return text("请直接输入您的问题，例如“门诊时间”。")
    listed = "\n".join(f"· {t}" for t in topics)
    return text(f"常见问题（直接输入问题即可）：\n{listed}")


@MENU.register(MenuKey.CONTACT)
def menu_contact(message: InboundMessage, ctx: WeChatContext) -> Reply:
    lines = [ctx.hospital_name]
    if ctx.hospital_phone:
        lines.append(f"总机：{ctx.hospital_phone}")
    for campus in ctx.reference.campuses():
        if campus.active:
            lines.append(f"{campus.name}：{campus.address}" + (f"（{campus.phone}）" if campus.phone else ""))
    lines.append(f"院区与交通：{ctx.page_url('campuses.html')}")
    return text("\n".join(lines))

