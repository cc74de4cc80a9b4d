"""The whole local stack (``python -m devstack``, what ``make run`` starts) as a subprocess on free
ports, for the browser tests. It is the real thing: moto server, the HIS simulator, the pump, the
bridge, ``chalice local`` and the CDN-like static server, seeded by the real reference sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from devstack.__main__ import READY_LINE
from devstack.stack import EXTERNAL_SERVERS, ROOT
from tests.integration.conftest import free_port

START_TIMEOUT = 120


@dataclass(frozen=True)
class RunningStack:
    h5_url: str
    api_url: str
    his_url: str
    wechat_url: str  # the fake WeChat platform; its simulator page is at wechat_url + "/_sim/"
    wechatpay_url: str  # the fake WeChat Pay (payments)
    moto_url: str
    output: list[str]

    @property
    def his_admin(self) -> str:
        """The HIS simulator's unsigned admin API (``/_sim``)."""
        return self.his_url.removesuffix("/v1") + "/_sim"


class StackDidNotStartError(RuntimeError):
    pass


@contextmanager
def running_stack() -> Iterator[RunningStack]:
    """``python -m devstack`` (what ``make run`` starts) as a subprocess on free ports, until the block ends."""
    ports = {name: free_port() for name in ("api", "h5", "his", "moto", "wechat", "lambda", "wechatpay")}
    env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_SERVERS and k != "H5_BASE_URL"}
    cmd = [sys.executable, "-m", "devstack", "--api-port", str(ports["api"]), "--h5-port", str(ports["h5"]),
           "--his-port", str(ports["his"]), "--moto-port", str(ports["moto"]), "--wechat-port", str(ports["wechat"]),
           "--lambda-port", str(ports["lambda"]), "--wechatpay-port", str(ports["wechatpay"])]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            if READY_LINE in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.is_set() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        if not ready.is_set():
            raise StackDidNotStartError("the local stack did not start:\n" + "\n".join(output[-60:]))
        yield RunningStack(
            h5_url=f"http://127.0.0.1:{ports['h5']}/",
            api_url=f"http://127.0.0.1:{ports['api']}/api/",
            his_url=f"http://127.0.0.1:{ports['his']}/v1",
            wechat_url=f"http://127.0.0.1:{ports['wechat']}",
            wechatpay_url=f"http://127.0.0.1:{ports['wechatpay']}",
            moto_url=f"http://127.0.0.1:{ports['moto']}",
            output=output,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def local_stack() -> Iterator[RunningStack]:
    try:
        with running_stack() as stack:
            yield stack
    except StackDidNotStartError as exc:
        pytest.fail(str(exc))
