"""``make run`` refuses to start, naming the flag, when one of its ports is taken (instead of starting half a stack
whose shutdown then hangs on a server that never bound)."""

from __future__ import annotations

import socket

import pytest

from devstack.stack import LocalStack, StackOptions


def _taken() -> tuple[socket.socket, int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder, holder.getsockname()[1]


def _free() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_taken_port_is_reported_with_its_flag() -> None:
    holder, port = _taken()
    try:
        options = StackOptions(api_port=_free(), h5_port=_free(), his_port=port, moto_port=_free(),
                               wechat_port=_free(), lambda_port=_free(), wechatpay_port=_free())
        stack = LocalStack(options, environ={})
        with pytest.raises(RuntimeError, match=rf"port {port} \(--his-port\) is in use"):
            stack._check_ports(external=set())
        # a server we do not start (HIS_BASE_URL given) may use that port
        stack._check_ports(external={"HIS_BASE_URL"})
    finally:
        holder.close()
