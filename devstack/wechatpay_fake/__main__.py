"""``python -m devstack.wechatpay_fake``: the fake WeChat Pay on :8092 with the ``local`` stage's merchant."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import run_simple

from chalicelib.config import stage_environment

from .server import create_app
from .state import FakePayConfig, FakePayState


def main(argv: list[str] | None = None) -> None:
    env = stage_environment("local")
    parser = argparse.ArgumentParser(prog="python -m devstack.wechatpay_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args(argv)
    config = FakePayConfig(env["WECHAT_APPID"], env["WECHATPAY_MCHID"], env["WECHATPAY_MERCHANT_SERIAL"],
                           env["WECHATPAY_APIV3_KEY"].encode("utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Fake WeChat Pay on http://{args.host}:{args.port} (WECHATPAY_API_BASE_URL)")
    run_simple(args.host, args.port, create_app(FakePayState(config)), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
