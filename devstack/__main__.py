"""``python -m devstack`` (``make run``): the whole local stack; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from devstack.stack import DEMO_PATIENT_ID, LocalStack, StackOptions

READY_LINE = "YIWEI LOCAL STACK READY"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    defaults = StackOptions()
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--api-port", type=int, default=defaults.api_port)
    parser.add_argument("--h5-port", type=int, default=defaults.h5_port)
    parser.add_argument("--his-port", type=int, default=defaults.his_port)
    parser.add_argument("--moto-port", type=int, default=defaults.moto_port)
    parser.add_argument("--wechat-port", type=int, default=defaults.wechat_port)
    parser.add_argument("--lambda-port", type=int, default=defaults.lambda_port)
    parser.add_argument("--wechatpay-port", type=int, default=defaults.wechatpay_port)
    parser.add_argument("--no-seed", action="store_true", help="skip the initial reference sync")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto and the simulator log every request

    options = StackOptions(args.host, args.api_port, args.h5_port, args.his_port, args.moto_port, args.wechat_port,
                           args.lambda_port, args.wechatpay_port, seed=not args.no_seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A shell that starts us in the background sets SIGINT to "ignore"; Ctrl-C must always stop us.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("Starting the Yiwei local stack…", flush=True)
    try:
        stack = LocalStack(options).start()
    except RuntimeError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        "\n".join(
            [
                "",
                f"  WeChat simulator (start here): {stack.urls['wechat']}",
                f"  Patient H5 (open this):  {stack.urls['h5']}",
                f"  H5 JSON API:             {stack.urls['api']}  (OpenAPI: {stack.urls['api']}openapi.json)",
                f"  HIS simulator:           {stack.urls['his']}  (admin API: {stack.urls['his_admin']})",
                f"  HIS events receiver:     {stack.urls['events']}  (the simulator pushes here)",
                f"  Demo: 张阿姨 in the WeChat simulator has bound her son 张三's card ({DEMO_PATIENT_ID}); follow as her,",
                "        then finalize a report in the HIS simulator's admin API to see the notice (README: Try it)",
                f"  WeChat Pay (fake):       {stack.urls['wechatpay']}  (admin: /_fake/orders)",
                f"  AWS (moto server):       {stack.urls['aws']}",
                "",
                "  Re-sync reference data:  .venv/bin/python -m chalicelib.cli sync-reference --wait",
                "  Press Ctrl-C to stop.",
                "",
                READY_LINE,
            ]
        ),
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    print("\nStopping…", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
