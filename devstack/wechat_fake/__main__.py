"""``python -m devstack.wechat_fake``: the fake WeChat platform and simulator page on :8091, with the official
account credentials of the ``local`` stage of ``.chalice/config.json``."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import run_simple

from chalicelib.config import stage_environment

from .config import DEFAULT_ACCOUNT_ID, FakeConfig
from .server import create_app
from .state import FakeState


def main(argv: list[str] | None = None) -> None:
    env = stage_environment("local")
    parser = argparse.ArgumentParser(prog="python -m devstack.wechat_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/wechat", help="the app's WeChat webhook")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="the account's original id (gh_…)")
    parser.add_argument("--plain", action="store_true", help="明文模式 instead of 安全模式 (AES)")
    args = parser.parse_args(argv)
    config = FakeConfig(appid=env["WECHAT_APPID"], secret=env["WECHAT_SECRET"], token=env["WECHAT_TOKEN"],
                        aes_key=env["WECHAT_AES_KEY"], account_id=args.account_id, webhook_url=args.webhook_url,
                        encrypt_mode="plain" if args.plain else "aes")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its request lines would print ?secret=…
    base = f"http://{args.host}:{args.port}"
    print(f"Fake WeChat on {base} (WECHAT_API_BASE_URL), simulator page {base}/_sim/, webhook {args.webhook_url}")
    run_simple(args.host, args.port, create_app(FakeState(config)), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
