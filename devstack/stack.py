"""The whole local stack in one process, on embedded defaults.

moto server (DynamoDB, SQS, S3) → resources from ``infra/resources.yaml`` → HIS simulator → the fake
WeChat platform with its simulator page → the SQS pump (bridge + app queue handlers, as Lambda would run
them) → the Lambda gateway (the bridge's live-read function behind Lambda's Invoke API, and its event
receiver behind an ALB-like ``/his/events``, where the simulator pushes its events) → the schedules the
app declares (events poll, reconciliation) on a short timer → ``chalice local`` → the CDN-like static
server for ``h5_static/`` → the real reference sync as seed, the FAQ seed, the published menu and one
demo patient bound to a simulator user.

Settings come from the ``local`` stage of ``.chalice/config.json``; a variable already set in the
shell wins. When ``HIS_BASE_URL`` (or ``AWS_ENDPOINT_URL``) is already set, that server is used and
the embedded one is not started.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BRIDGE_DIR = ROOT / "functions" / "his_bridge"
EXTERNAL_SERVERS = ("AWS_ENDPOINT_URL", "HIS_BASE_URL", "WECHAT_API_BASE_URL", "WECHATPAY_API_BASE_URL")

log = logging.getLogger("devstack")

# The demo binding: the WeChat simulator's 张阿姨 (not following yet) has bound her son 张三's card.
DEMO_OPENID = "o-sim-zhangayi-0000000000001"
DEMO_PATIENT_ID = "P000123456"


def scheduled_event(name: str) -> dict[str, Any]:
    """An EventBridge "Scheduled Event" as Lambda receives it (Chalice's ``CloudWatchEvent`` needs every field)."""
    import uuid
    from datetime import UTC, datetime

    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "ap-east-1", "resources": [f"arn:aws:events:ap-east-1:000000000000:rule/{name}"], "detail": {}}


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    api_port: int = 8000
    h5_port: int = 8080
    his_port: int = 8090
    moto_port: int = 5000
    wechat_port: int = 8091
    lambda_port: int = 8093
    wechatpay_port: int = 8092  # the fake WeChat Pay (payments)
    seed: bool = True
    # How often the app's scheduled functions run locally: the events poll (every 5 min in AWS) each minute,
    # the reconciliation (hourly 03:00-09:00 in AWS) each hour.
    poll_seconds: float = 60.0
    reconcile_seconds: float = 3600.0
    # The booking timers (every minute in AWS: lapsed locks, resends, reminders, waitlist offers) every 5 s.
    booking_timer_seconds: float = 5.0
    # The payments sweep (every 2 min in AWS: expired orders, refunds owed, unfinished paid orders) every 30 s.
    payments_sweep_seconds: float = 30.0
    # Locally, failed messages come back after this many seconds instead of the queue's 180 s.
    redelivery_seconds: int | None = 5


@dataclass
class LocalStack:
    options: StackOptions = field(default_factory=StackOptions)
    environ: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    env: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)
    pump: Any = None
    his: Any = None  # the embedded simulator (None when HIS_BASE_URL points elsewhere)
    bridge: Any = None

    # ---- environment -------------------------------------------------------------------------
    def _resolve_env(self) -> set[str]:
        from chalicelib.config import stage_environment

        base = stage_environment("local", ROOT)
        external = {k for k in EXTERNAL_SERVERS if self.environ.get(k)}
        self.env = {**base, **{k: self.environ[k] for k in base if k in self.environ}}
        for k in external:
            self.env[k] = self.environ[k]
        return external

    # ---- pieces ------------------------------------------------------------------------------
    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        from devstack.moto_atomic import serialize_dynamodb_writes

        serialize_dynamodb_writes()  # conditional writes as atomic as DynamoDB's (moto's are not)
        server = ThreadedMotoServer(ip_address=self.options.host, port=self.options.moto_port, verbose=False)
        server.start()
        self._stoppers.append(server.stop)
        self.env["AWS_ENDPOINT_URL"] = f"http://{self.options.host}:{self.options.moto_port}"

    def _start_his(self) -> None:
        from devstack.his_simulator.server import start_in_thread

        server, _thread, base_url = start_in_thread(self.options.host, self.options.his_port)
        self._stoppers.append(server.shutdown)
        self.env["HIS_BASE_URL"] = base_url
        self.his = server.simulator

    def _start_wechat(self) -> None:
        from devstack.wechat_fake.server import start_in_thread

        server, _thread, base_url = start_in_thread(
            self.options.host, self.options.wechat_port,
            webhook_url=f"http://{self.options.host}:{self.options.api_port}/wechat",
            appid=self.env["WECHAT_APPID"], secret=self.env["WECHAT_SECRET"],
            token=self.env["WECHAT_TOKEN"], aes_key=self.env["WECHAT_AES_KEY"], account_id="gh_yiwei_local",
        )
        self._stoppers.append(server.shutdown)
        self.env["WECHAT_API_BASE_URL"] = base_url
        self.env["WECHAT_OPEN_BASE_URL"] = base_url  # the fake also plays open.weixin.qq.com (OAuth)
        if not self.environ.get("SMS_OUTBOX_URL"):  # cards: codes go to this fake's SMS outbox, shown in its page
            self.env["SMS_OUTBOX_URL"] = base_url + "/_fake/sms"

    def _start_wechatpay(self) -> None:
        """The fake WeChat Pay (payments): signs like the real one with its TEST platform key."""
        from devstack.wechatpay_fake.server import start_in_thread

        server, _thread, base_url = start_in_thread(
            self.options.host, self.options.wechatpay_port, appid=self.env["WECHAT_APPID"],
            mchid=self.env["WECHATPAY_MCHID"], merchant_serial=self.env["WECHATPAY_MERCHANT_SERIAL"],
            apiv3_key=self.env["WECHATPAY_APIV3_KEY"],
        )
        self._stoppers.append(server.shutdown)
        self.env["WECHATPAY_API_BASE_URL"] = base_url

    def _provision(self) -> Any:
        from devstack.provision import provision

        return provision(
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region=self.env["AWS_DEFAULT_REGION"],
            table_prefix=self.env["TABLE_PREFIX"],
            stage=self.env.get("STAGE", "local"),
            bucket_name=self.env["BLOB_BUCKET"],
        )

    def _start_api(self) -> Any:
        from chalice.config import Config
        from chalice.local import create_local_server

        from devstack.servers import widen_chalice_local_backlog

        app_module = importlib.import_module("app")
        config = Config.create(
            chalice_stage="local",
            app_name="yiwei",
            project_dir=str(ROOT),
            config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")),
            chalice_app=app_module.app,
        )
        widen_chalice_local_backlog()
        server = create_local_server(app_module.app, config, self.options.host, self.options.api_port)
        thread = threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True)
        thread.start()
        self._stoppers.append(server.shutdown)
        self.urls["api"] = f"http://{self.options.host}:{self.options.api_port}/api/"
        return app_module.app

    def _aws(self, service: str) -> Any:
        import boto3

        session = boto3.session.Session(aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID"),
                                        aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY"))
        return session.client(service, region_name=self.env["AWS_DEFAULT_REGION"], endpoint_url=self.env["AWS_ENDPOINT_URL"])

    def _start_bridge(self) -> Any:
        from his_bridge.client import HttpHisClient
        from his_bridge.config import load_settings as load_bridge_settings
        from his_bridge.handler import Bridge
        from his_bridge.ratelimit import RateLimiter

        settings = load_bridge_settings(self.env)
        client = HttpHisClient(settings.his_base_url, settings.his_app_id, settings.his_app_secret,
                               limiter=RateLimiter(settings.max_concurrency))
        self.bridge = Bridge(settings, client, self._aws("sqs"), self._aws("s3"))
        return self.bridge

    def _start_lambda_gateway(self) -> None:
        """The bridge's other two entry points, as AWS would reach them: live reads through Lambda's
        Invoke API (the app's boto3 client points at LAMBDA_ENDPOINT_URL) and the event receiver behind
        an ALB-like path; the embedded simulator pushes its events there."""
        from devstack.lambda_gateway import start_in_thread
        from his_bridge.config import load_settings as load_bridge_settings
        from his_bridge.events import EventReceiver
        from his_bridge.handler import invoke_handler

        bridge = self.bridge
        receiver = EventReceiver(load_bridge_settings(self.env), self._aws("dynamodb"), self._aws("sqs"))
        server, _thread, base_url = start_in_thread(
            self.options.host, self.options.lambda_port,
            functions={self.env["HIS_BRIDGE_FUNCTION"]: lambda event, ctx: invoke_handler(event, ctx, bridge)},
            routes={self.env.get("HIS_EVENT_PATH", "/his/events"): lambda event, _ctx: receiver.handle(event)},
            timeouts={self.env["HIS_BRIDGE_FUNCTION"]: 6.0},
        )
        self._stoppers.append(server.shutdown)
        self.env["LAMBDA_ENDPOINT_URL"] = base_url
        self.urls["events"] = base_url + self.env.get("HIS_EVENT_PATH", "/his/events")
        if self.his is not None:
            self.his.configure_push(url=self.urls["events"])

    def _start_pump(self, chalice_app: Any) -> None:
        from devstack.pump import SqsPump, Subscription
        from his_bridge.handler import process_batch

        sqs = self._aws("sqs")
        bridge = self.bridge

        def url(name: str) -> str:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        def run_bridge(event: dict[str, Any], ctx: Any) -> Any:
            deadline = bridge.client.monotonic() + ctx.get_remaining_time_in_millis() / 1000 - 1.5
            return process_batch(event["Records"], bridge, deadline)

        visibility = self.options.redelivery_seconds
        self.pump = SqsPump(
            sqs,
            self.env["AWS_DEFAULT_REGION"],
            [
                Subscription("his_bridge", url(self.env["HIS_REQUEST_QUEUE"]), run_bridge, 10, visibility),
                Subscription("on_his_result", url(self.env["HIS_RESULT_QUEUE"]),
                             chalice_app.handler_map["on_his_result"], 10, visibility),
                Subscription("on_wechat_deferred", url(self.env["WECHAT_ASYNC_QUEUE"]),
                             chalice_app.handler_map["on_wechat_deferred"], 5, visibility),
                Subscription("on_his_event", url(self.env["HIS_EVENT_QUEUE"]),
                             chalice_app.handler_map["on_his_event"], 10, visibility),
            ],
        )
        self.pump.start()
        self._stoppers.append(self.pump.stop)

    def _start_schedules(self, chalice_app: Any) -> None:
        """Run the app's scheduled functions on a timer each (EventBridge's job in AWS)."""
        from devstack.pump import LambdaContext

        stop = threading.Event()

        def every(name: str, seconds: float) -> None:
            while not stop.wait(seconds):
                try:
                    chalice_app.handler_map[name](scheduled_event(name), LambdaContext(name))
                except Exception:
                    log.exception("scheduled function %s failed", name)

        for name, seconds in (("poll_his_events", self.options.poll_seconds),
                              ("reconcile_yesterday", self.options.reconcile_seconds),
                              ("booking_timers", self.options.booking_timer_seconds),
                              ("payments_sweep", self.options.payments_sweep_seconds)):
            threading.Thread(target=every, args=(name, seconds), name=f"schedule-{name}", daemon=True).start()
        self._stoppers.append(stop.set)

    def _start_cdn(self) -> None:
        from devstack.static_server import start_cdn

        server, _ = start_cdn(
            ROOT / "h5_static", self.options.host, self.options.h5_port,
            f"http://{self.options.host}:{self.options.api_port}",
        )
        self._stoppers.append(server.shutdown)
        self.urls["h5"] = f"http://{self.options.host}:{self.options.h5_port}/"

    def seed_account(self) -> None:
        """What an operator does once per account: load the FAQ seed and publish the menu."""
        from chalicelib import bootstrap
        from chalicelib.services.account_admin import publish_menu
        from chalicelib.services.faq import ensure_seeded, seed_entries

        c = bootstrap.container()
        ensure_seeded(c.faq_repository, seed_entries(c.clock()))
        publish_menu(c.wechat_messenger, c.settings.h5_url)
        self.bind_demo_patient()

    def bind_demo_patient(self) -> None:
        """Bind the simulator's 张阿姨 to the demo patient 张三 (her son), so reports and notices can be tried
        before binding a card by hand: once she follows the account, a report finalized in the HIS simulator
        reaches her. Only with the embedded HIS simulator, which links him."""
        if self.his is None:
            return
        from chalicelib import bootstrap
        from chalicelib.domain.patients import PatientBinding, Relation

        c = bootstrap.container()
        self.his.link_patient(DEMO_PATIENT_ID)
        c.patient_bindings.bind(PatientBinding(DEMO_OPENID, DEMO_PATIENT_ID, Relation.CHILD, "张*", c.clock()))

    def seed(self, timeout: float = 60.0) -> list[Any]:
        """Run the real reference sync and wait until every dataset's job has finished."""
        from chalicelib import bootstrap
        from chalicelib.services.reference_sync import request_reference_sync

        c = bootstrap.container()
        jobs = request_reference_sync(c.his_request_queue, c.reference_repository, c.job_repository, c.clock, c.new_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            finished = [c.job_repository.get(j.job_id) for j in jobs]
            if all(j is not None and j.state.finished for j in finished):
                return finished
            time.sleep(0.2)
        raise TimeoutError("the reference sync did not finish; see the log above")

    # ---- lifecycle ---------------------------------------------------------------------------
    def _check_ports(self, external: set[str]) -> None:
        """Fail fast, with the port's name, when one of ours is taken (e.g. another ``make run``): a server
        that could not bind would otherwise leave the stack half-started and hang its shutdown."""
        o = self.options
        wanted = {"--api-port": o.api_port, "--h5-port": o.h5_port, "--lambda-port": o.lambda_port}
        if "AWS_ENDPOINT_URL" not in external:
            wanted["--moto-port"] = o.moto_port
        if "HIS_BASE_URL" not in external:
            wanted["--his-port"] = o.his_port
        if "WECHAT_API_BASE_URL" not in external:
            wanted["--wechat-port"] = o.wechat_port
        if "WECHATPAY_API_BASE_URL" not in external:
            wanted["--wechatpay-port"] = o.wechatpay_port
        for flag, port in wanted.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((o.host, port))
                except OSError as exc:
                    raise RuntimeError(f"port {port} ({flag}) is in use: is another local stack running? "
                                       f"Stop it or pass {flag} with a free port.") from exc

    def start(self) -> LocalStack:
        if str(BRIDGE_DIR) not in sys.path:
            sys.path.insert(0, str(BRIDGE_DIR))
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        external = self._resolve_env()
        self._check_ports(external)
        try:
            if "AWS_ENDPOINT_URL" not in external:
                self._start_moto()
            if "HIS_BASE_URL" not in external:
                self._start_his()
            self.urls["his"] = self.env["HIS_BASE_URL"]
            self.urls["his_admin"] = self.env["HIS_BASE_URL"].removesuffix("/v1") + "/_sim/"
            if "WECHAT_API_BASE_URL" not in external:
                self._start_wechat()
            self.urls["wechat"] = self.env["WECHAT_API_BASE_URL"] + "/_sim/"
            if "WECHATPAY_API_BASE_URL" not in external:
                self._start_wechatpay()
            self.urls["wechatpay"] = self.env["WECHATPAY_API_BASE_URL"]
            if "H5_BASE_URL" not in self.environ:
                self.env["H5_BASE_URL"] = f"http://{self.options.host}:{self.options.h5_port}"
            self.urls["aws"] = self.env["AWS_ENDPOINT_URL"]
            self.env["HIS_STATE_TABLE"] = self.env["TABLE_PREFIX"] + "his"
            self._start_bridge()
            self._start_lambda_gateway()
            # From here on, this process is the app's Lambda environment.
            self.environ.update(self.env)
            self._provision()
            from chalicelib import bootstrap
            from chalicelib.config import get_settings, load_settings

            get_settings.cache_clear()
            bootstrap.use_settings(load_settings(self.env))
            chalice_app = self._start_api()
            self._start_pump(chalice_app)
            self._start_schedules(chalice_app)
            self._start_cdn()
            self.seed_account()
            if self.options.seed:
                self.seed()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:  # noqa: S112 - best effort on the way out
                continue
