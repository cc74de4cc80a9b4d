"""Operator commands. ``python -m chalicelib.cli sync-reference [--stage local] [--wait]``

FAQ (the knowledge base answering patients' text messages; the format is ``domain.faq.parse_entries``):
``faq export [--stage local] > faq.json``, ``faq import faq.json [--replace] [--dry-run]``,
``faq test "挂号怎么退" [--file faq.json]``.

The official account: ``publish-menu [--stage local]`` (the menu in ``domain/menu.py``),
``tag --openid o… --tag elderly [--remove]``, ``mass-send --tag elderly --text "…"``.

Reconciliation (对账) and queues: ``reconcile run --date 2025-06-16 [--wait]`` (ask the HIS for that day's
file again and reconcile it), ``reconcile show --date 2025-06-16`` (the report and the discrepancies for
staff), ``redrive his-results [--max 50] [--dry-run]`` (move dead-lettered messages back to their queue).

Uses the same services and adapters as the Lambdas; point it at a stage's resources with the usual
AWS credentials (or, for ``--stage local``, at the running local stack).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from chalicelib import bootstrap
from chalicelib.config import settings_for_stage
from chalicelib.domain.faq import FaqEntry, FaqFormatError, parse_entries, suggest
from chalicelib.domain.reference import Dataset
from chalicelib.services.faq import FaqImport, export_entries, import_entries, reply_for
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


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FaqFormatError([f"cannot read {path}: {exc.strerror}"]) from exc
    except ValueError as exc:
        raise FaqFormatError([f"{path} is not valid JSON: {exc}"]) from exc


def faq_export(args: argparse.Namespace) -> int:
    c = bootstrap.use_settings(settings_for_stage(args.stage))
    print(json.dumps(export_entries(c.faq_repository), ensure_ascii=False, indent=2))
    return 0


def _print_import(result: FaqImport) -> None:
    for label, entries in (("added", result.added), ("changed", result.changed), ("removed", result.removed)):
        for entry in entries:
            print(f"{label:<8} {entry.entry_id:<24} {entry.question}")
    outcome = "written" if result.applied else ("nothing to write" if not result.has_changes else "dry run, not written")
    print(f"{len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} removed, "
          f"{len(result.unchanged)} unchanged: {outcome}")


def faq_import(args: argparse.Namespace) -> int:
    c = bootstrap.use_settings(settings_for_stage(args.stage))
    try:
        result = import_entries(c.faq_repository, _read_json(args.file), args.replace, c.clock(),
                                dry_run=args.dry_run)
    except FaqFormatError as exc:
        print(f"{args.file}: {exc}\nnothing was written", file=sys.stderr)
        return 1
    _print_import(result)
    return 0


def faq_test(args: argparse.Namespace) -> int:
    if args.file:
        try:
            entries: list[FaqEntry] = parse_entries(_read_json(args.file), datetime.now(UTC))
        except FaqFormatError as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return 1
        h5_base_url = args.h5_base_url or "{h5}"
    else:
        c = bootstrap.use_settings(settings_for_stage(args.stage))
        entries = c.faq_repository.all()
        h5_base_url = args.h5_base_url or c.settings.h5_base_url
    reply = reply_for(args.question, entries, h5_base_url)
    if reply is not None and reply.match is not None:
        m = reply.match
        print(f"match    {m.entry.entry_id}  score {m.score:.2f}  {m.reason.value}: {', '.join(m.matched)}")
        print(f"question {m.entry.question}")
    else:
        print("no match")
    near_misses = suggest(args.question, entries, n=args.suggestions)
    if near_misses:
        print("candidates:")
    for near in near_misses:
        print(f"  {near.score:.2f}  {near.entry.entry_id:<24} {near.entry.question}  ({near.reason.value})")
    print("reply:\n" + (reply.text if reply is not None else "(none: the message is left to other handlers)"))
    return 0 if reply is not None and reply.match is not None else 1


def _add_faq_commands(sub: Any) -> None:
    faq = sub.add_parser("faq", help="the FAQ knowledge base answering patients' text messages")
    faq_sub = faq.add_subparsers(dest="faq_command", required=True)
    export = faq_sub.add_parser("export", help="print every entry as JSON (the format staff edit)")
    export.set_defaults(func=faq_export)
    imp = faq_sub.add_parser("import", help="validate a JSON file of entries and store it")
    imp.add_argument("file")
    imp.add_argument("--replace", action="store_true", help="also delete the entries missing from the file")
    imp.add_argument("--dry-run", action="store_true", help="only validate and show what would change")
    imp.set_defaults(func=faq_import)
    test = faq_sub.add_parser("test", help="show how a message would be answered")
    test.add_argument("question")
    test.add_argument("--file", help="match against this JSON file instead of the stored entries")
    test.add_argument("--h5-base-url", help="fill {h5} with this (default: the stage's H5_BASE_URL)")
    test.add_argument("--suggestions", type=int, default=3)
    test.set_defaults(func=faq_test)
    for command in (export, imp, test):
        command.add_argument("--stage", default="local", help="Chalice stage whose settings to use (default: local)")


def publish_menu(args: argparse.Namespace) -> int:
    from chalicelib.services.account_admin import publish_menu as publish

    c = bootstrap.use_settings(settings_for_stage(args.stage))
    document = publish(c.wechat_messenger, c.settings.h5_url)
    for top in document["button"]:
        print(top["name"] + ": " + "、".join(b["name"] for b in top.get("sub_button", [])))
    return 0


def tag(args: argparse.Namespace) -> int:
    from chalicelib.domain.wechat import UserTag
    from chalicelib.services.notices import tag_user, untag_user

    c = bootstrap.use_settings(settings_for_stage(args.stage))
    (untag_user if args.remove else tag_user)(args.openid, UserTag(args.tag), c.wechat_users, c.wechat_messenger)
    print("removed" if args.remove else "tagged")
    return 0


def mass_send(args: argparse.Namespace) -> int:
    from chalicelib.domain.wechat import UserTag
    from chalicelib.services.notices import send_to_group

    c = bootstrap.use_settings(settings_for_stage(args.stage))
    msg_id = send_to_group(UserTag(args.tag), args.text, c.wechat_messenger, c.deliveries, c.clock)
    print(f"sent: msg_id {msg_id}")
    return 0


def _add_account_commands(sub: Any) -> None:
    from chalicelib.domain.wechat import UserTag

    menu = sub.add_parser("publish-menu", help="publish the custom menu defined in chalicelib/domain/menu.py")
    menu.set_defaults(func=publish_menu)
    tagging = sub.add_parser("tag", help="put a follower in a group (WeChat user tag) or take them out")
    tagging.add_argument("--openid", required=True)
    tagging.add_argument("--tag", required=True, choices=[t.value for t in UserTag])
    tagging.add_argument("--remove", action="store_true")
    tagging.set_defaults(func=tag)
    mass = sub.add_parser("mass-send", help="send a text to every follower with a tag")
    mass.add_argument("--tag", required=True, choices=[t.value for t in UserTag])
    mass.add_argument("--text", required=True)
    mass.set_defaults(func=mass_send)
    for command in (menu, tagging, mass):
        command.add_argument("--stage", default="local", help="Chalice stage whose settings to use (default: local)")


# ---- reconciliation and dead letters ------------------------------------------------------------------
def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from exc


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {raw!r}")
    return int(raw)


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "-"
    sign, whole = ("-" if fen < 0 else ""), abs(fen)
    return f"{sign}¥{whole // 100}.{whole % 100:02d}"


def reconcile_run(args: argparse.Namespace) -> int:
    from chalicelib.services.reconciliation import request_reconciliation

    c = bootstrap.use_settings(settings_for_stage(args.stage))
    jobs = request_reconciliation(args.date, c.his_request_queue, c.reconciliation_reports, c.job_repository,
                                  c.clock, c.new_id, force=True)
    for job in jobs:
        print(f"queued {job.subject:<18} job {job.job_id}")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    pending = {j.job_id for j in jobs}
    while pending and time.monotonic() < deadline:
        pending = {j for j in pending if not ((done := c.job_repository.get(j)) and done.state.finished)}
        time.sleep(0.5)
    if pending:
        print("still waiting for the HIS results", file=sys.stderr)
        return 2
    return reconcile_show(args)


def _print_report(report: Any) -> None:
    from chalicelib.domain.reconciliation import Owner

    verified = "verified against the summary" if report.verified else "NOT verified"
    print(f"{report.day.isoformat()}  {report.state.value}  (updated {report.updated_at.isoformat()})")
    if report.detail:
        print(f"  {report.detail}")
    if report.file_sha256:
        print(f"  file sha256 {report.file_sha256[:16]}…, {verified}")
    result = report.result
    if result is None:
        return
    for label, t in (("HIS file", result.his), ("our records", result.ours), ("WeChat Pay bill", result.bill)):
        if t is None:
            print(f"  {label:<16} (not used)")
            continue
        print(f"  {label:<16} payments {t.payment_count:>4} {_yuan(t.payment_total_fen):>12}   "
              f"refunds {t.refund_count:>4} {_yuan(t.refund_total_fen):>12}   net {_yuan(t.net_total_fen):>12}")
    print(f"  matched {result.matched} ({result.matched_across_days} across the day boundary)")
    if report.problems:
        print(f"  malformed lines in the HIS file: {len(report.problems)}")
        for problem in report.problems:
            print(f"    line {problem.line_no}: {problem.reason}")
    opened = result.open
    print(f"  discrepancies: {len(opened)} open, {len(report.compensated)} compensated automatically, "
          f"{len(result.discrepancies) - len(opened)} resolved")
    for owner in Owner:
        mine = [d for d in opened if d.handling.owner is owner]
        if mine:
            print(f"  -- {owner.value} ({len(mine)})")
        for d in mine:
            note = "  [已自动登记退款]" if d.reference in report.compensated else ""
            note += "  [待次日HIS文件核对]" if d.awaiting_next_day else ""
            print(f"    {d.kind.value:<22} {d.record_type:<7} {d.business_type or '-':<12} {d.reference}")
            print(f"      {d.at.isoformat()}  HIS {_yuan(d.his_amount_fen)}  ours {_yuan(d.our_amount_fen)}  "
                  f"WeChat Pay {_yuan(d.bill_amount_fen)}  trade {d.his_trade_id or '-'}  ref {d.caller_ref or '-'}  "
                  f"patient {d.patient_id or '-'}")
            print(f"      → {d.handling.action}{note}")


def reconcile_show(args: argparse.Namespace) -> int:
    c = bootstrap.use_settings(settings_for_stage(args.stage))
    report = c.reconciliation_reports.get(args.date)
    if report is None:
        print(f"no reconciliation of {args.date.isoformat()} yet", file=sys.stderr)
        return 1
    _print_report(report)
    return 0 if report.done else 2


def redrive_queue(args: argparse.Namespace) -> int:
    from chalicelib.services.redrive import redrive

    c = bootstrap.use_settings(settings_for_stage(args.stage))
    s = c.settings
    aliases = {"his-requests": s.his_request_queue, "his-results": s.his_result_queue,
               "wechat-async": s.wechat_async_queue, "his-events": s.his_event_queue}
    queue = aliases.get(args.queue, args.queue)
    outcome = redrive(queue, c.dead_letters, args.max, args.dry_run)
    if outcome.dry_run:
        print(f"{queue}-dlq holds about {outcome.waiting} messages; dry run, nothing moved")
        return 0
    print(f"{queue}-dlq → {queue}: {outcome.moved} moved, {outcome.failed} failed, "
          f"{outcome.not_deleted} sent but not deleted (about {outcome.waiting} were waiting)")
    return 0 if not (outcome.failed or outcome.not_deleted) else 1


def _add_operations_commands(sub: Any) -> None:
    recon = sub.add_parser("reconcile", help="daily reconciliation with the HIS file (对账)")
    recon_sub = recon.add_subparsers(dest="reconcile_command", required=True)
    run = recon_sub.add_parser("run", help="ask the HIS for a day's summary and file and reconcile them")
    run.add_argument("--wait", action="store_true", help="wait for the results and show the report")
    run.add_argument("--timeout", type=float, default=120.0)
    run.set_defaults(func=reconcile_run)
    show = recon_sub.add_parser("show", help="a day's report and its discrepancies, for staff")
    show.set_defaults(func=reconcile_show)
    for command in (run, show):
        command.add_argument("--date", required=True, type=_date, help="Shanghai accounting date, YYYY-MM-DD")
    again = sub.add_parser("redrive", help="move messages from <queue>-dlq back to <queue>")
    again.add_argument("queue", help="queue name, or his-requests / his-results / wechat-async / his-events")
    again.add_argument("--max", type=_positive, default=None, help="move at most this many")
    again.add_argument("--dry-run", action="store_true", help="only count what is waiting")
    again.set_defaults(func=redrive_queue)
    for command in (run, show, again):
        command.add_argument("--stage", default="local", help="Chalice stage whose settings to use (default: local)")


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
    _add_faq_commands(sub)
    _add_account_commands(sub)
    _add_operations_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
