"""The FAQ knowledge base: normalizing, matching what patients really type, the staff format, the seed,
and the service over a fake store."""

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.faq import (
    MATCH_THRESHOLD,
    FaqEntry,
    FaqFormatError,
    FaqIndex,
    MatchReason,
    core_text,
    match,
    normalize,
    parse_entries,
    suggest,
    to_dict,
)
from chalicelib.services.faq import (
    SEED_FILE,
    SUGGESTION_INTRO,
    answer_text,
    ensure_seeded,
    export_entries,
    import_entries,
    seed_entries,
)
from tests.conftest import ROOT

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seed() -> list[FaqEntry]:
    return seed_entries(T0)


def _entry(entry_id, question, *, keywords=(), alt=(), answer="答", enabled=True, priority=0):
    return FaqEntry(entry_id, question, answer, T0, tuple(keywords), tuple(alt), enabled, priority)


class FakeFaqRepository:
    def __init__(self, entries=()):
        self.entries = {e.entry_id: e for e in entries}
        self.writes = 0

    def all(self):
        return sorted(self.entries.values(), key=lambda e: e.entry_id)

    def put_many(self, entries):
        self.writes += 1
        self.entries.update((e.entry_id, e) for e in entries)

    def delete(self, entry_id):
        self.writes += 1
        self.entries.pop(entry_id, None)

    def replace_all(self, entries):
        self.writes += 1
        self.entries = {e.entry_id: e for e in entries}


# ---------------------------------------------------------------------------------- normalizing
@pytest.mark.parametrize(("raw", "expected"), [
    ("ＣＴ報告　多久出來？", "ct报告多久出来"),
    ("  几点 上班 ？？!! ", "几点上班"),
    ("怎么停车😊👍", "怎么停车"),
    ("[捂脸]挂号/::)", "挂号"),
    ("醫保卡能用嗎", "医保卡能用吗"),
    ("掛號費 ５０元", "挂号费50元"),
    ("B超，MRI。", "b超mri"),
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("请问一下，挂的号怎么退呢？", "挂号怎么退"),
    ("你好，我想问医院几点上班啊", "医院几点上班"),
    ("谢谢医生", ""),
    ("你好", ""),
    ("哈哈哈", ""),
    ("在吗？", ""),
])
def test_core_text_drops_courtesy_words_and_particles(raw, expected):
    assert core_text(raw) == expected


# ---------------------------------------------------------------------------------- matching
@pytest.mark.parametrize(("query", "entry_id"), [
    # The questions patients send most, as they send them.
    ("几点上班", "clinic-hours"),
    ("怎么停车", "parking"),
    ("挂号怎么退", "cancel-booking"),
    ("报告多久出来", "report-time"),
    ("医保能用吗", "insurance"),
    # Courtesy words, particles, extra words.
    ("请问一下医院怎么停车收费贵不贵", "parking"),
    ("你好，请问一下周末门诊上班吗？谢谢", "clinic-hours"),
    ("我妈不会用手机怎么挂号", "elderly"),
    ("孩子发烧挂什么科", "pediatrics"),
    ("外地医保可以用吗", "insurance"),
    ("住院押金多少钱", "admission"),
    ("停车多少钱", "parking"),
    ("生孩子建档", "maternity"),
    ("挂的号怎么退掉", "cancel-booking"),
    ("病历怎么复印", "discharge"),
    ("能不能换个医生", "reschedule"),
    ("晚上能看病吗", "night-clinic"),
    # Typos, traditional characters, full width, emoji, WeChat emoticons.
    ("挂好怎么退", "cancel-booking"),
    ("請問一下醫院幾點開門", "clinic-hours"),
    ("掛號費多少錢", "fees"),
    ("ＣＴ報告多久出來", "report-time"),
    ("怎么查报告😊", "report-query"),
    ("/::)怎么缴费", "payment"),
    ("[捂脸]预约不上", "booking"),
    # Very short messages.
    ("挂号", "booking"),
    ("人工", "consult"),
    ("核酸", "nucleic-acid"),
    ("发票", "invoice"),
    ("急诊", "emergency"),
    ("头疼", "which-department"),
])
def test_realistic_messages_find_their_entry(seed, query, entry_id):
    found = match(query, seed)
    assert found is not None, f"{query!r} matched nothing; near: {suggest(query, seed)}"
    assert found.entry.entry_id == entry_id, f"{query!r} → {found}"
    assert found.score >= MATCH_THRESHOLD


@pytest.mark.parametrize("query", [
    "你好", "哈哈", "哈哈哈哈😂", "在吗", "好的", "ok", "1", "", "   ", "。。。", "👍👍",
    "今天天气真不错", "随便说点什么", "怎么办", "asdfghjkl", "谢谢医生", "医院有wifi吗",
])
def test_small_talk_and_unrelated_text_match_nothing(seed, query):
    assert match(query, seed) is None


def test_reasons_say_why(seed):
    exact = match("停车场在哪里", seed)
    assert exact is not None and exact.reason is MatchReason.EXACT and exact.score == 1.0
    keyword = match("请问医院怎么停车", seed)
    assert keyword is not None and keyword.reason is MatchReason.KEYWORD and keyword.matched == ("停车",)
    assert keyword.score < 1.0
    similar = match("挂好怎么退", seed)
    assert similar is not None and similar.reason is MatchReason.SIMILAR and similar.matched == ("挂号怎么退",)


def test_near_misses_are_suggested_best_first(seed):
    assert match("号抢不到", seed) is None
    assert [m.entry.entry_id for m in suggest("号抢不到", seed)] == ["booking"]
    near = suggest("挂号怎么退", seed, n=2)
    assert [m.entry.entry_id for m in near] == ["cancel-booking", "booking"]
    assert near[0].score >= near[1].score
    assert suggest("你好", seed) == []
    assert len(suggest("怎么查报告", seed, n=10)) <= 10


def test_disabled_entries_never_answer():
    entries = [_entry("a", "怎么停车", keywords=["停车"], enabled=False), _entry("b", "几点上班")]
    assert match("怎么停车", entries) is None
    assert match("几点上班", entries).entry.entry_id == "b"


def test_priority_breaks_ties_then_entry_id():
    low, high = _entry("a", "停车场在哪", keywords=["停车"]), _entry("b", "停车费多少", keywords=["停车"], priority=5)
    assert match("停车", [low, high]).entry.entry_id == "b"
    assert match("停车", [low, dataclasses.replace(high, priority=0)]).entry.entry_id == "a"


def test_results_do_not_depend_on_entry_order(seed):
    for query in ("挂的号怎么退掉", "孩子发烧挂什么科", "号抢不到"):
        forward, backward = suggest(query, seed, n=5), suggest(query, list(reversed(seed)), n=5)
        assert forward == backward


def test_an_index_can_be_held_and_reused(seed):
    index = FaqIndex(seed)
    assert len(index) == len(seed)
    assert match("几点上班", index) == match("几点上班", seed)
    assert match("停车", FaqIndex([])) is None


def test_a_long_paragraph_is_matched_on_its_start(seed):
    story = "请问医院怎么停车？" + "今天天气真不错，" * 40 + "我想投诉"
    found = match(story, seed)
    assert found is not None and found.entry.entry_id == "parking"
    assert match("今天天气真不错，" * 40 + "我想投诉", seed) is None


# ---------------------------------------------------------------------------------- staff format
def test_parse_entries_fills_defaults_and_round_trips():
    raw = [{"entry_id": "parking", "question": " 医院可以停车吗？ ", "answer": "见 {h5}/campuses.html",
            "keywords": ["停车", " "], "updated_at": "2026-01-05T09:00:00+08:00"}]
    (entry,) = parse_entries(raw)
    assert entry.question == "医院可以停车吗？" and entry.keywords == ("停车",) and entry.alt_questions == ()
    assert entry.enabled and entry.priority == 0
    assert entry.updated_at == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    assert parse_entries([to_dict(entry)]) == [entry]
    assert entry.answer_with("https://h5.example.org/") == "见 https://h5.example.org/campuses.html"


def test_missing_updated_at_takes_now_when_given():
    (entry,) = parse_entries([{"entry_id": "a", "question": "几点上班", "answer": "8点"}], now=T0)
    assert entry.updated_at == T0
    with pytest.raises(FaqFormatError, match="'updated_at' is missing"):
        parse_entries([{"entry_id": "a", "question": "几点上班", "answer": "8点"}])


def test_parse_errors_name_the_entry_and_say_what_to_fix():
    raw = [
        {"entry_id": "a", "question": "停车", "answer": "见 {H5}/x.html"},
        {"entry_id": "a", "question": "几点上班", "answer": "8点"},
        {"entry_id": "b b", "question": "你好", "keyword": ["x"], "answer": ""},
        "not an object",
        {"entry_id": "c", "question": "医院可以停车吗", "answer": "可以", "keywords": "停车", "priority": "1",
         "enabled": "yes", "updated_at": "2026-01-05"},
        {"entry_id": "d", "question": "停车？", "answer": "x" * 601, "alt_questions": ["谢谢"]},
    ]
    with pytest.raises(FaqFormatError) as caught:
        parse_entries(raw, now=T0)
    problems = caught.value.problems
    expected = [
        "entry 1 (a): 'answer' contains {H5}; the only placeholder is {h5}",
        "entry 2 (a): 'entry_id' 'a' is already used by entry 1",
        "entry 3 (b b): unknown field 'keyword' (did you mean 'keywords'?)",
        "entry 3 (b b): 'entry_id' 'b b' may only use letters, digits",
        "entry 3 (b b): question '你好' is only courtesy words or punctuation",
        "entry 3 (b b): 'answer' is missing or empty",
        "entry 4: must be an object with entry_id, question, answer, not str",
        "entry 5 (c): 'keywords' must be a list of texts",
        "entry 5 (c): 'priority' must be a whole number, not '1'",
        "entry 5 (c): 'enabled' must be true or false, not 'yes'",
        "entry 5 (c): 'updated_at' must be a date and time with its zone",
        "entry 6 (d): 'answer' has 601 characters; keep it to 600",
        "entry 6 (d): alternative question '谢谢' is only courtesy words or punctuation",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), f"missing: {start}\ngot: {problems}"
    assert len(problems) == len(expected)
    assert str(caught.value).startswith(f"{len(expected)} problems in the FAQ entries:\n  - entry 1 (a)")


def test_a_question_claimed_by_two_entries_is_refused():
    raw = [{"entry_id": "a", "question": "怎么停车？", "answer": "x"},
           {"entry_id": "b", "question": "医院停车", "alt_questions": ["怎么停车"], "answer": "y"}]
    with pytest.raises(FaqFormatError, match=r"entry 2 \(b\): question '怎么停车' is also a question of 'a'"):
        parse_entries(raw, now=T0)


def test_the_file_must_be_a_list():
    with pytest.raises(FaqFormatError, match="must hold a JSON list of entries, not dict"):
        parse_entries({"entries": []})


# ---------------------------------------------------------------------------------- the seed
def test_seed_parses_and_every_entry_answers_its_own_questions(seed):
    assert len(seed) >= 30
    assert len({e.entry_id for e in seed}) == len(seed)
    for entry in seed:
        for question in (entry.question, *entry.alt_questions):
            found = match(question, seed)
            assert found is not None and found.entry.entry_id == entry.entry_id, f"{question!r} → {found}"


def test_seed_answers_link_existing_pages_and_invent_no_phone_numbers(seed):
    pages = {p.name for p in (ROOT / "h5_static").glob("*.html")}
    for entry in seed:
        for page in re.findall(r"\{h5\}/([\w.-]+)", entry.answer):
            assert page in pages, f"{entry.entry_id} links {page}"
        assert not re.search(r"\d{3,4}-?\d{7,8}|1[3-9]\d{9}", entry.answer), entry.entry_id
    raw = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    assert all("updated_at" not in item for item in raw)  # stamped when seeded


# ---------------------------------------------------------------------------------- the service
def test_answer_text_fills_the_h5_address_or_suggests(seed):
    repo = FakeFaqRepository(seed)
    reply = answer_text("停车场在哪里", repo, "https://h5.example.org/")
    assert reply is not None and reply.match is not None and reply.match.entry.entry_id == "parking"
    assert "https://h5.example.org/campuses.html" in reply.text and "{h5}" not in reply.text
    near = answer_text("号抢不到", repo, "https://h5.example.org")
    assert near is not None and near.match is None
    assert near.text.startswith(SUGGESTION_INTRO) and "· 怎么预约挂号？" in near.text
    assert [m.entry.entry_id for m in near.suggestions] == ["booking"]
    assert answer_text("哈哈", repo, "https://h5.example.org") is None
    assert answer_text("几点上班", FakeFaqRepository(), "https://h5.example.org") is None


def test_ensure_seeded_only_fills_an_empty_base(seed):
    repo = FakeFaqRepository()
    assert ensure_seeded(repo, seed)
    assert len(repo.all()) == len(seed)
    edited = FakeFaqRepository([_entry("only", "几点上班", enabled=False)])
    assert not ensure_seeded(edited, seed)
    assert [e.entry_id for e in edited.all()] == ["only"] and edited.writes == 0


def test_import_reports_changes_stamps_them_and_keeps_unchanged_times():
    old = T0 - timedelta(days=30)
    repo = FakeFaqRepository([
        dataclasses.replace(_entry("keep", "几点上班"), updated_at=old),
        dataclasses.replace(_entry("edit", "怎么停车"), updated_at=old),
        dataclasses.replace(_entry("gone", "医保能用吗"), updated_at=old),
    ])
    raw = [to_dict(e) for e in repo.all() if e.entry_id != "gone"]
    raw[0]["answer"] = "停车场在东门"  # "edit" (ids sort: edit, keep)
    raw.append({"entry_id": "new", "question": "有食堂吗", "answer": "有"})

    preview = import_entries(repo, raw, replace=True, now=T0, dry_run=True)
    assert [e.entry_id for e in preview.added] == ["new"]
    assert [e.entry_id for e in preview.changed] == ["edit"]
    assert [e.entry_id for e in preview.removed] == ["gone"]
    assert [e.entry_id for e in preview.unchanged] == ["keep"]
    assert not preview.applied and repo.writes == 0

    done = import_entries(repo, raw, replace=True, now=T0)
    assert done.applied and repo.writes == 1
    stored = {e.entry_id: e for e in repo.all()}
    assert sorted(stored) == ["edit", "keep", "new"]
    assert stored["keep"].updated_at == old
    assert stored["edit"].updated_at == T0 and stored["edit"].answer == "停车场在东门"
    assert stored["new"].updated_at == T0

    again = import_entries(repo, raw, replace=True, now=T0 + timedelta(hours=1))
    assert not again.has_changes and not again.applied and repo.writes == 1


def test_import_without_replace_keeps_other_entries_and_refuses_bad_files():
    repo = FakeFaqRepository([_entry("keep", "几点上班")])
    result = import_entries(repo, [{"entry_id": "new", "question": "有食堂吗", "answer": "有"}], replace=False, now=T0)
    assert [e.entry_id for e in result.added] == ["new"] and result.removed == []
    assert sorted(e.entry_id for e in repo.all()) == ["keep", "new"]
    writes = repo.writes
    with pytest.raises(FaqFormatError, match="'answer' is missing"):
        import_entries(repo, [{"entry_id": "x", "question": "有食堂吗"}], replace=False, now=T0)
    with pytest.raises(FaqFormatError, match="would delete every entry"):
        import_entries(repo, [], replace=True, now=T0)
    assert repo.writes == writes


def test_export_is_what_import_reads(seed):
    repo = FakeFaqRepository(seed)
    exported = export_entries(repo)
    assert [d["entry_id"] for d in exported] == sorted(e.entry_id for e in seed)
    json.dumps(exported)  # plain JSON
    assert not import_entries(FakeFaqRepository(seed), exported, replace=True, now=T0).has_changes
