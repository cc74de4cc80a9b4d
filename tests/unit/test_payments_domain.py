"""Payments domain: money, the order state machine, notification checks, the WeChat Pay bill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.payments import (
    MAX_AMOUNT_FEN,
    TRANSITIONS,
    AmountError,
    Order,
    OrderKind,
    OrderState,
    Refusal,
    SelectionError,
    Transaction,
    TransitionError,
    amount_fen,
    can_transition,
    charges_order_id,
    check_transaction,
    full_refund_no,
    parse_trade_bill,
    pay_deadline,
    select_charges,
    sources_of,
    timestamp_fresh,
    yuan_text,
)
from tests.fakes_payments import unpaid_charge

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def order(**changes: object) -> Order:
    base = dict(order_id="STL0123456789", kind=OrderKind.CHARGES, openid="o1", patient_id="P1", subject_id="ST1",
                amount_fen=8650, description="门诊缴费", state=OrderState.PAYING, created_at=NOW,
                expires_at=NOW + timedelta(minutes=10))
    base.update(changes)
    return Order(**base)  # type: ignore[arg-type]


# ---- money ---------------------------------------------------------------------------------------
@given(st.integers(min_value=1, max_value=MAX_AMOUNT_FEN))
def test_every_positive_whole_fen_up_to_the_cap_is_payable(value: int) -> None:
    assert amount_fen(value) == value


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_AMOUNT_FEN + 1), st.floats(allow_nan=True),
                 st.booleans(), st.text(max_size=12), st.none(), st.decimals(allow_nan=False),
                 st.lists(st.integers(), max_size=2)))
def test_nothing_else_is_an_amount(value: object) -> None:
    with pytest.raises(AmountError):
        amount_fen(value)


@pytest.mark.parametrize("value", [0, -1, 1.5, 100.0, True, False, "100", 10**18, None])
def test_amounts_refused_by_name(value: object) -> None:
    with pytest.raises(AmountError):
        amount_fen(value)


def test_an_order_cannot_hold_an_unpayable_amount() -> None:
    for bad in (0, -5, 1.5, True, MAX_AMOUNT_FEN + 1):
        with pytest.raises(AmountError):
            order(amount_fen=bad)


def test_yuan_text_is_integer_arithmetic() -> None:
    assert [yuan_text(v) for v in (1, 10, 8650, 100000)] == ["0.01", "0.10", "86.50", "1000.00"]


# ---- the state machine -------------------------------------------------------------------------------
ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize("a", list(OrderState))
@pytest.mark.parametrize("b", list(OrderState))
def test_transitions_are_exactly_the_table(a: OrderState, b: OrderState) -> None:
    assert can_transition(a, b) == ((a, b) in ALLOWED)
    held = order(state=a)
    if (a, b) in ALLOWED:
        moved = held.moved(b, NOW)
        assert (moved.state, moved.version) == (b, held.version + 1)
    else:
        with pytest.raises(TransitionError):
            held.moved(b, NOW)


def test_the_paths_of_the_issue_exist_and_final_states_are_final() -> None:
    path = [OrderState.CREATED, OrderState.PAYING, OrderState.PAID, OrderState.SETTLED, OrderState.REFUNDING,
            OrderState.REFUNDED]
    assert all(can_transition(a, b) for a, b in pairwise(path))
    assert can_transition(OrderState.PAID, OrderState.REFUNDING)
    assert TRANSITIONS[OrderState.REFUNDED] == frozenset()
    assert sources_of(OrderState.PAID) == {OrderState.CREATED, OrderState.PAYING, OrderState.CLOSED}
    # A payment can never be undone into "unpaid".
    assert not any(can_transition(s, OrderState.PAYING) for s in (OrderState.PAID, OrderState.SETTLED))


def test_orders_survive_storage() -> None:
    held = order(items=({"charge_id": "C1", "items": []},), settlement={"settlement_id": "ST1"}, handled=True,
                 transaction_id="4200", paid_at=NOW)
    assert Order.from_dict(held.to_dict()) == held


def test_order_ids_fit_wechatpay_and_the_his() -> None:
    oid = charges_order_id("openid", "k" * 20, b"key")
    assert len(oid) == 32 and oid == charges_order_id("openid", "k" * 20, b"key")
    assert oid != charges_order_id("openid", "k" * 21, b"key")
    assert len(full_refund_no(oid)) == 32
    with pytest.raises(ValueError):
        order(order_id="bad id!")


def test_the_wechatpay_deadline_leaves_two_minutes_before_the_his_lock() -> None:
    lock = NOW + timedelta(minutes=15)
    assert pay_deadline(NOW, lock) == NOW + timedelta(minutes=12)
    assert pay_deadline(NOW, NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=3)
    assert pay_deadline(NOW, None, NOW + timedelta(minutes=4)) == NOW + timedelta(minutes=4)


# ---- notification checks ----------------------------------------------------------------------------
def tx(**changes: object) -> Transaction:
    raw = {"appid": "wxA", "mchid": "M1", "out_trade_no": "STL0123456789", "transaction_id": "4200001",
           "trade_state": "SUCCESS", "success_time": "2026-12-05T10:00:00+08:00",
           "amount": {"total": 8650, "payer_total": 8650, "currency": "CNY"}}
    raw.update(changes)
    return Transaction.from_json(raw)


@pytest.mark.parametrize(("changes", "refusal"), [
    ({}, None),
    ({"appid": "wxB"}, Refusal.WRONG_APPID),
    ({"mchid": "M2"}, Refusal.WRONG_MCHID),
    ({"out_trade_no": "STLother000001"}, Refusal.UNKNOWN_ORDER),
    ({"amount": {"total": 8649}}, Refusal.WRONG_AMOUNT),
    ({"amount": {"total": "8650"}}, Refusal.WRONG_AMOUNT),
    ({"amount": {"total": 8650, "currency": "USD"}}, Refusal.WRONG_CURRENCY),
    ({"trade_state": "NOTPAY"}, Refusal.NOT_SUCCESS),
    ({"success_time": None}, Refusal.NOT_SUCCESS),
])
def test_a_transaction_must_match_our_order(changes: dict[str, object], refusal: Refusal | None) -> None:
    assert check_transaction(tx(**changes), order(), "wxA", "M1") == refusal


def test_an_order_paid_by_another_transaction_is_refused() -> None:
    assert check_transaction(tx(), order(transaction_id="4200999"), "wxA", "M1") is Refusal.OTHER_TRANSACTION
    assert check_transaction(tx(), None, "wxA", "M1") is Refusal.UNKNOWN_ORDER


@pytest.mark.parametrize(("offset", "fresh"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_the_timestamp_window_is_300_seconds(offset: int, fresh: bool) -> None:
    assert timestamp_fresh(str(int(NOW.timestamp()) + offset), NOW) is fresh
    assert not timestamp_fresh("12ab", NOW)


# ---- charges --------------------------------------------------------------------------------------------
def test_the_total_comes_from_the_his_list() -> None:
    charges = [unpaid_charge("C1", 8650), unpaid_charge("C2", 1200), unpaid_charge("C3", 500, payable=False)]
    assert select_charges(["C1", "C2"], charges).total_fen == 9850
    for ids, code in ((["C3"], "NOT_PAYABLE"), (["C9"], "CHARGES_CHANGED"), ([], "BAD_REQUEST"),
                      (["C1", "C1"], "BAD_REQUEST"), ("C1", "BAD_REQUEST"), ([1], "BAD_REQUEST")):
        with pytest.raises(SelectionError) as err:
            select_charges(ids, charges)
        assert err.value.code == code
    with pytest.raises(SelectionError) as err:
        select_charges(["C1"], [unpaid_charge("C1", MAX_AMOUNT_FEN + 1)])
    assert err.value.code == "AMOUNT_NOT_PAYABLE"
    weird = unpaid_charge("C1", 100)
    weird["total_fen"] = 99.5
    with pytest.raises(SelectionError):
        select_charges(["C1"], [weird])


# ---- the bill ---------------------------------------------------------------------------------------------
HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
          "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
          "手续费,费率,订单金额,申请退款金额,费率备注")
PAY_LINE = ["2026-12-04 10:00:01", "wxA", "M1", "0", "", "4200001", "STL1", "o1", "JSAPI", "SUCCESS", "OTHERS", "CNY",
            "86.50", "0.00", "0", "0", "0.00", "0.00", "", "", "门诊缴费", "", "0.52", "0.60%", "86.50", "0.00", ""]
REFUND_LINE = ["2026-12-04 11:00:00", "wxA", "M1", "0", "", "4200001", "STL1", "o1", "JSAPI", "REFUND", "OTHERS", "CNY",
               "0.00", "0.00", "50001", "RFSTL1", "86.50", "0.00", "ORIGINAL", "SUCCESS", "门诊缴费", "", "0.00", "0.60%",
               "86.50", "86.50", ""]
BILL = "\n".join([HEADER, ",".join("`" + f for f in PAY_LINE), ",".join("`" + f for f in REFUND_LINE), "`bad line",
                  "总交易单数,应结订单总金额", "`2,`86.50"]) + "\n"


def test_the_trade_bill_is_read_without_floating_point() -> None:
    lines, problems = parse_trade_bill(BILL, SHANGHAI)
    assert [(x.kind, x.amount_fen, x.out_refund_no) for x in lines] == [("PAYMENT", 8650, None),
                                                                        ("REFUND", 8650, "RFSTL1")]
    assert lines[0].at == datetime(2026, 12, 4, 10, 0, 1, tzinfo=SHANGHAI)
    assert problems == [4]
