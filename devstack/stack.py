"""The whole local stack in one process, on embedded defaults.

moto server (DynamoDB, SQS, S3) → resources from ``infra/resources.yaml`` → HIS simulator → the fake
WeChat platform with its simulator page → the SQS pump (bridge + app queue handlers, as Lambda would run
them) → ``chalice local`` → the CDN-like static server for ``h5_static/`` → the real reference sync as
seed, the FAQ seed and the published menu.

Settings come from the ``local`` stage of ``.chalice/config.json``; a variable already set in the
shell wins. When ``HIS_BASE_URL`` (or ``AWS_ENDPOINT_URL``) is already set, that server is used and
the embedded one is not started.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
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


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    api_port: int = 8000
    h5_port: int = 8080
    his_port: int = 8090
    moto_port: int = 5000
    wechat_port: int = 8091
    seed: bool = True
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

        server = ThreadedMotoServer(ip_address=self.options.host, port=self.options.moto_port, verbose=False)
        server.start()
        self._stoppers.append(server.stop)
        self.env["AWS_ENDPOINT_URL"] = f"http://{self.options.host}:{self.options.moto_port}"

    def _start_his(self) -> None:
        from devstack.his_simulator.server import start_in_thread

        server, _thread, base_url = start_in_thread(self.options.host, self.options.his_port)
        self._stoppers.append(server.shutdown)
        self.env["HIS_BASE_URL"] = base_url

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

        app_module = importlib.import_module("app")
        config = Config.create(
            chalice_stage="local",
            app_name="yiwei",
            project_dir=str(ROOT),
            config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")),
            chalice_app=app_module.app,
        )
        server = create_local_server(app_module.app, config, self.options.host, self.options.api_port)
        thread = threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True)
        thread.start()
        self._stoppers.append(server.shutdown)
        self.urls["api"] = f"http://{self.options.host}:{self.options.api_port}/api/"
        return app_module.app

    def _start_pump(self, chalice_app: Any) -> None:
        import boto3

        from devstack.pump import SqsPump, Subscription
        from his_bridge.client import HttpHisClient
        from his_bridge.config import load_settings as load_bridge_settings
        from his_bridge.handler import Bridge, process_batch

        region = self.env["AWS_DEFAULT_REGION"]
        sqs = boto3.session.Session().client("sqs", region_name=region, endpoint_url=self.env["AWS_ENDPOINT_URL"])
        s3 = boto3.session.Session().client("s3", region_name=region, endpoint_url=self.env["AWS_ENDPOINT_URL"])
        bridge_settings = load_bridge_settings(self.env)
        client = HttpHisClient(bridge_settings.his_base_url, bridge_settings.his_app_id, bridge_settings.his_app_secret)
        bridge = Bridge(bridge_settings, client, sqs, s3)

        def url(name: str) -> str:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        visibility = self.options.redelivery_seconds
        self.pump = SqsPump(
            sqs,
            region,
            [
                Subscription("his_bridge", url(self.env["HIS_REQUEST_QUEUE"]),
                             lambda event, _ctx: process_batch(event["Records"], bridge), 10, visibility),
                Subscription("on_his_result", url(self.env["HIS_RESULT_QUEUE"]),
                             chalice_app.handler_map["on_his_result"], 10, visibility),
                Subscription("on_wechat_deferred", url(self.env["WECHAT_ASYNC_QUEUE"]),
                             chalice_app.handler_map["on_wechat_deferred"], 5, visibility),
            ],
        )
        self.pump.start()
        self._stoppers.append(self.pump.stop)

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
    def start(self) -> LocalStack:
        if str(BRIDGE_DIR) not in sys.path:
            sys.path.insert(0, str(BRIDGE_DIR))
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        external = self._resolve_env()
        try:
            if "AWS_ENDPOINT_URL" not in external:
                self._start_moto()
            if "HIS_BASE_URL" not in external:
                self._start_his()
            self.urls["his"] = self.env["HIS_BASE_URL"]
            if "WECHAT_API_BASE_URL" not in external:
                self._start_wechat()
            self.urls["wechat"] = self.env["WECHAT_API_BASE_URL"] + "/_sim/"
            if "H5_BASE_URL" not in self.environ:
                self.env["H5_BASE_URL"] = f"http://{self.options.host}:{self.options.h5_port}"
            self.urls["aws"] = self.env["AWS_ENDPOINT_URL"]
            # From here on, this process is the app's Lambda environment.
            self.environ.update(self.env)
            self._provision()
            from chalicelib import bootstrap
            from chalicelib.config import get_settings, load_settings

            get_settings.cache_clear()
            bootstrap.use_settings(load_settings(self.env))
            chalice_app = self._start_api()
            self._start_pump(chalice_app)
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
