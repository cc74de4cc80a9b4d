"""The official account's webhook (``/wechat``) and the worker for replies that could not wait.

WeChat posts ``text/xml``; the route must accept that content type or Chalice answers 415.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.adapters.wechat.errors import WebhookError
from chalicelib.api.errors import error_response
from chalicelib.batch import process_sqs_records, records_of
from chalicelib.config import queue_names
from chalicelib.domain.wechat import InboundMessage
from chalicelib.services.wechat_inbox import answer_deferred, receive

bp = Blueprint(__name__)
DEFERRED_QUEUE = queue_names().wechat_async
XML_TYPES = ["text/xml", "application/xml", "text/plain", "application/octet-stream"]


def _refused(exc: WebhookError) -> Response:
    return error_response(exc.status, "WECHAT_REQUEST_REFUSED", exc.reason)


@bp.route("/wechat", methods=["GET"])
def wechat_verify() -> Response:
    c = bootstrap.container()
    try:
        echo = c.wechat_protocol.verify_echo(bp.current_request.query_params or {}, c.clock())
    except WebhookError as exc:
        return _refused(exc)
    return Response(body=echo, headers={"Content-Type": "text/plain; charset=utf-8"})


@bp.route("/wechat", methods=["POST"], content_types=XML_TYPES)
def wechat_message() -> Response:
    c, request = bootstrap.container(), bp.current_request
    try:
        received = c.wechat_protocol.read(request.query_params or {}, request.raw_body or b"", c.clock())
    except WebhookError as exc:
        return _refused(exc)
    reply = receive(received.message, c.wechat_handle, c.inbox_ledger, c.deferred_inbox, c.clock,
                    c.settings.wechat_reply_deadline_seconds)
    body = c.wechat_protocol.render(reply, received.message, received.encrypted, c.clock())
    return Response(body=body, headers={"Content-Type": "application/xml; charset=utf-8"})


def _answer(body: dict[str, Any]) -> None:
    c = bootstrap.container()
    answer_deferred(InboundMessage.from_dict(body), c.wechat_handle, c.inbox_ledger, c.wechat_messenger, c.clock)


@bp.on_sqs_message(queue=DEFERRED_QUEUE, batch_size=5)
def on_wechat_deferred(event: Any) -> dict[str, Any]:
    return process_sqs_records(records_of(event), _answer)
