"""Operator commands. ``python -m chalicelib.cli sync-reference [--stage local] [--wait]``

Uses the same services and adapters as the Lambdas; point it at a stage's resources with the usual
AWS credentials (or, for ``--stage local``, at the running local stack).
"""

from __future__ import annotations

import argparse
import sys
import time

from chalicelib import bootstrap
from chalicelib.config import settings_for_stage
from chalicelib.domain.reference import Dataset
from chalicelib.services.reference_sync import request_reference_sync


def sync_reference(args: argparse.Namespace) -> int:
    c = bootstrap.use_settings(settings_for_stage(args.stage))
    datasets = [Dataset(d) for d in args.dataset] if args.dataset else list(Dataset)
    jobs = request_reference_sync(
        c.his_request_queue, c.reference_repository, c.job_repository, c.clock, c.new_id, datasets, force=args.force
    )
    for job in jobs:
        print(f"queued {job.subject:<13} job {job.job_id}")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    pending = {j.job_id: j for j in jobs}
    failed = False
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            done = c.job_repository.get(job_id)
            if done is not None and done.state.finished:
                print(f"{done.subject:<13} {done.state.value:<12} {done.detail}")
                failed |= done.state.value == "failed"
                del pending[job_id]
        time.sleep(0.5)
    if pending:
        print(f"still waiting for: {', '.join(j.subject for j in pending.values())}", file=sys.stderr)
        return 2
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync-reference", help="queue a sync of campuses, departments, doctors and fees")
    sync.add_argument("--stage", default="local", help="Chalice stage whose settings to use (default: local)")
    sync.add_argument("--dataset", action="append", choices=[d.value for d in Dataset])
    sync.add_argument("--force", action="store_true", help="ignore the stored ETags")
    sync.add_argument("--wait", action="store_true", help="wait for the results to be applied")
    sync.add_argument("--timeout", type=float, default=60.0)
    sync.set_defaults(func=sync_reference)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
