"""``python -m devstack.his_simulator --host 127.0.0.1 --port 8090``: serve the HIS simulator (threaded werkzeug)."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime

from werkzeug.serving import run_simple

from .clock import parse_local_datetime
from .config import SimConfig
from .push import PushConfigError
from .server import create_app
from .simulator import Simulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.his_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=SimConfig.seed, help="seed of the demo data")
    parser.add_argument("--now", help="start the simulated clock at this +08:00 date-time")
    parser.add_argument("--enforce-maintenance", action="store_true", help="apply the 23:30-00:30 window")
    parser.add_argument("--enforce-rate-limits", action="store_true", help="apply the §5.4 rate limits")
    parser.add_argument("--push-url", help="push events (§8.1) to this endpoint, e.g. http://127.0.0.1:8000/his/events")
    args = parser.parse_args(argv)
    config = SimConfig(
        seed=args.seed, enforce_maintenance=args.enforce_maintenance, enforce_rate_limits=args.enforce_rate_limits
    )
    sim = Simulator(config=config)
    if args.push_url:
        try:
            sim.configure_push(url=args.push_url)
        except PushConfigError:
            parser.error("--push-url must be an http(s) URL")
    if args.now:
        target: datetime | None = parse_local_datetime(args.now)
        if target is None:
            parser.error("--now must look like 2025-06-16T07:59:30+08:00")
        sim.set_now(target)
        sim.reset()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"HIS simulator on http://{args.host}:{args.port}/v1 (admin: /_sim), app_id {config.app_id}")
    if config.push_url:
        print(f"pushing events to {config.push_url}")
    try:
        run_simple(args.host, args.port, create_app(sim), threaded=True, use_reloader=False)
    finally:
        sim.close()


if __name__ == "__main__":
    main()
