"""The FAQ knowledge base that answers patients' text messages in the official account.

Pure Python. Staff keep the entries — a question, other ways patients ask it, keywords and the answer —
as a JSON list (``parse_entries`` reads it, ``to_dict`` writes it); ``match`` finds the entry a message
asks about and ``suggest`` the near misses ("您是不是想问：…").

Both sides are compared as ``core_text``: NFKC (full-width → half-width), lower case, a small
traditional → simplified map, without punctuation, spaces, emoji and courtesy words (请问一下, 谢谢, 吗,
呢, 的…). For each enabled entry:

* **exact** — the message *is* one of the entry's questions or keywords: score 1;
* **keyword** — a keyword of two characters or more occurs in the message;
* **similar** — the message shares character bigrams with the entry's phrasings.

The score (0…1) is mostly *coverage*: how much of the message the entry explains, each character
weighted by how rare it is across the entries (so 怎么 and 医院 count for little, 停车 for a lot); a
character counts fully when it lies in a bigram or gapped bigram (挂_怎, which survives a one-character
typo) that the entry also has, or in a keyword hit, and half when the entry merely has the character.
The rest is the best Dice similarity of those bigram sets against one of the entry's phrasings. A
keyword hit lifts the score to at least 0.5 + 0.4 × coverage. An entry is only considered when it
shares an *informative* bigram with the message (one held by at most a third of the entries), a keyword
or the whole text, so "你好", "哈哈" and small talk match nothing.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any

MATCH_THRESHOLD = 0.5
SUGGEST_THRESHOLD = 0.35
MAX_QUERY_CHARS = 80  # a long paragraph is not an FAQ question; only its start is matched
MAX_ANSWER_CHARS = 600  # a WeChat text reply stays well under its 2048-byte limit
MAX_KEYWORD_CHARS = 20
H5_PLACEHOLDER = "{h5}"

# Traditional → simplified for the characters patients use about a hospital (pairs: 繁简).
_TRADITIONAL_PAIRS = (
    "門门診诊掛挂號号醫医藥药葯药費费報报檢检車车場场預预約约時时間间幾几點点開开關关麼么樣样這这"
    "裡里裏里兒儿產产婦妇檔档護护視视發发憑凭條条電电話话廳厅訴诉議议詢询諮咨線线辦办補补還还錢钱"
    "險险體体區区樓楼層层碼码網网個个們们嗎吗請请問问說说給给對对後后來来過过為为沒没與与實实單单"
    "結结術术療疗劑剂處处腦脑齒齿驗验採采簽签籤签證证應应變变聯联係系繫系員员轉转運运動动閉闭聽听"
    "錯错貴贵買买賣卖銀银鐘钟鐵铁長长隊队離离頭头題题顯显風风飲饮館馆馬马黃黄齡龄嬰婴壓压腎肾臟脏"
    "膚肤腸肠歲岁級级紙纸總总續续邊边達达進进選选週周遲迟價价優优備备傳传僅仅儀仪內内兩两準准務务"
    "協协參参團团圖图夠够學学寫写將将帶带幫帮廣广張张從从復复複复戶户掃扫換换據据數数斷断書书會会"
    "東东機机歡欢氣气況况測测溫温滿满無无熱热燒烧現现癥症盡尽確确筆笔節节簡简紅红經经統统綠绿編编"
    "繳缴職职臨临舊旧衛卫裝装見见規规親亲覺觉觀观計计訂订記记設设許许詳详認认誤误謝谢識识資资質质"
    "購购軟软較较輸输錄录鎮镇隨随隻只雙双靜静項项順顺須须領领額额類类飯饭養养餘余專专師师異异廁厕"
    "輪轮殘残營营銷销櫃柜針针")
_T2S = str.maketrans(dict(zip(_TRADITIONAL_PAIRS[0::2], _TRADITIONAL_PAIRS[1::2], strict=True)))

# WeChat's own emoticons arrive as text: "[捂脸]", "[Smile]", "/::)", "/:rose".
_EMOTICONS = re.compile(r"\[[\u4e00-\u9fffa-z]{1,8}\]|/:[^\s\u4e00-\u9fff]{1,8}")
_FILLER_PHRASES = tuple(sorted(
    ("请问一下", "请问", "问一下", "问下", "我想问", "想问", "想知道", "我想", "我要", "我们", "你们", "您们", "一下",
     "麻烦", "谢谢", "你好", "您好", "医生你好", "医生您好", "谢谢医生", "有人吗", "在吗", "在不在", "hello", "hi"),
    key=len, reverse=True,
))
_PARTICLES = str.maketrans("", "", "吗呢吧啊呀哦噢嘛哈呵嗯诶哎唉啦咯的了我你您")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class FaqFormatError(ValueError):
    """FAQ entries as staff wrote them cannot be used; ``problems`` says what to fix, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{count} in the FAQ entries:\n" + "\n".join(f"  - {p}" for p in problems))


class MatchReason(str, Enum):
    EXACT = "exact"  # the message is one of the entry's questions or keywords
    KEYWORD = "keyword"  # a keyword occurs in the message
    SIMILAR = "similar"  # shared character bigrams


@dataclass(frozen=True)
class FaqEntry:
    """One question and its answer. ``answer`` may contain ``{h5}``, the H5 pages' public base URL."""

    entry_id: str
    question: str
    answer: str
    updated_at: datetime
    keywords: tuple[str, ...] = ()
    alt_questions: tuple[str, ...] = ()
    enabled: bool = True
    priority: int = 0  # breaks ties between equally good matches (higher first)

    def answer_with(self, h5_base_url: str) -> str:
        return self.answer.replace(H5_PLACEHOLDER, h5_base_url.rstrip("/"))


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    score: float
    reason: MatchReason
    matched: tuple[str, ...] = ()  # the keywords hit, or the phrasing (normalized) most alike


# ---------------------------------------------------------------------------------- normalizing
def normalize(text: str) -> str:
    """Comparable text: NFKC, lower case, simplified characters, only letters and digits."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_T2S)
    text = _EMOTICONS.sub(" ", text)
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def core_text(text: str) -> str:
    """``normalize`` without courtesy phrases and particles: "请问一下，挂的号怎么退呢？" → "挂号怎么退"."""
    text = normalize(text)
    for phrase in _FILLER_PHRASES:
        text = text.replace(phrase, "")
    return text.translate(_PARTICLES)


def _grams(text: str) -> list[tuple[str, int, int]]:
    """Bigrams and gapped bigrams with the positions they cover: "挂号费" → 挂号, 号费, 挂_费."""
    pairs = [(text[i:i + 2], i, i + 1) for i in range(len(text) - 1)]
    gapped = [(f"{text[i]}_{text[i + 2]}", i, i + 2) for i in range(len(text) - 2)]
    return pairs + gapped


def _gram_set(text: str) -> frozenset[str]:
    return frozenset(g for g, _, _ in _grams(text))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


# ---------------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class _Prepared:
    entry: FaqEntry
    phrasings: tuple[str, ...]  # core text of the question and the alternative questions
    keywords: tuple[str, ...]
    gram_sets: tuple[frozenset[str], ...]  # one per phrasing and keyword
    grams: frozenset[str]
    chars: frozenset[str]


def _unique(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in texts if t))


@lru_cache(maxsize=4096)
def _prepare(entry: FaqEntry) -> _Prepared:
    phrasings = _unique(core_text(q) for q in (entry.question, *entry.alt_questions))
    keywords = _unique(core_text(k) for k in entry.keywords)
    gram_sets = tuple(_gram_set(t) for t in (*phrasings, *keywords))
    return _Prepared(
        entry=entry,
        phrasings=phrasings,
        keywords=keywords,
        gram_sets=gram_sets,
        grams=frozenset().union(*gram_sets),
        chars=frozenset("".join((*phrasings, *keywords))),
    )


class FaqIndex:
    """The enabled entries prepared for matching. ``match``/``suggest`` build (and cache) one from a
    list of entries themselves; hold one to skip even that."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self._entries = tuple(_prepare(e) for e in entries if e.enabled)
        self._exact: dict[str, list[int]] = {}
        self._keywords: dict[str, list[int]] = {}
        self._postings: dict[str, list[int]] = {}
        char_df: dict[str, int] = {}
        for i, p in enumerate(self._entries):
            for text in (*p.phrasings, *p.keywords):
                _add(self._exact, text, i)
            for keyword in p.keywords:
                if len(keyword) >= 2:
                    _add(self._keywords, keyword, i)
            for gram in p.grams:
                _add(self._postings, gram, i)
            for ch in p.chars:
                char_df[ch] = char_df.get(ch, 0) + 1
        n = len(self._entries)
        self._char_weight = {ch: math.log((n + 1) / (df + 0.5)) for ch, df in char_df.items()}
        self._unknown_weight = math.log((n + 1) / 1.5)  # as rare as can be, but likely noise: like df = 1
        # A short message of common characters (怎么办) explains little however well it is covered.
        self._min_information = 2 * self._unknown_weight
        self._informative_df = max(1, n // 3)
        self._longest_keyword = max((len(k) for k in self._keywords), default=0)

    def __len__(self) -> int:
        return len(self._entries)

    def ranked(self, query: str, limit: int | None = None) -> list[FaqMatch]:
        """The best ``limit`` (default: all) candidate entries for ``query``, best first, whatever
        their score."""
        q = core_text(query)[:MAX_QUERY_CHARS]
        if not q or not self._entries:
            return []
        exact = self._exact.get(q, [])
        results = [FaqMatch(self._entries[i].entry, 1.0, MatchReason.EXACT, (q,)) for i in exact]
        if len(q) >= 2 and (limit is None or len(results) < limit):
            results += self._scored(q, set(exact), limit)
        results.sort(key=_rank)
        return results[:limit]

    def _scored(self, q: str, skip: set[int], limit: int | None) -> list[FaqMatch]:
        """Coverage first for every candidate; the Dice part (at most 0.3) only while it can still
        lift a candidate into the best ``limit``."""
        hits = self._keyword_hits(q)
        grams = _grams(q)
        candidates = set(hits)
        for gram, _, _ in grams:
            posting = self._postings.get(gram, ())
            if len(posting) <= self._informative_df:
                candidates.update(posting)
        weights = [self._char_weight.get(ch, self._unknown_weight) for ch in q]
        information = max(sum(weights), self._min_information)
        bounds = []
        for i in candidates - skip:
            coverage = self._coverage(self._entries[i], q, grams, weights, hits.get(i, ())) / information
            ceiling = max(0.7 * coverage + 0.3, 0.6 + 0.4 * coverage if i in hits else 0.0)
            bounds.append((-ceiling, i, coverage))
        bounds.sort()
        query_grams = frozenset(g for g, _, _ in grams)
        results: list[FaqMatch] = []
        for neg_ceiling, i, coverage in bounds:
            if limit is not None and len(results) >= limit:
                results.sort(key=_rank)
                del results[limit:]
                if -neg_ceiling + 0.001 < results[-1].score:
                    break
            results.append(self._finish(self._entries[i], q, query_grams, coverage, hits.get(i, ())))
        return results

    def _keyword_hits(self, q: str) -> dict[int, list[tuple[int, int]]]:
        hits: dict[int, list[tuple[int, int]]] = {}
        for start in range(len(q)):
            for end in range(start + 2, min(len(q), start + self._longest_keyword) + 1):
                for i in self._keywords.get(q[start:end], ()):
                    hits.setdefault(i, []).append((start, end))
        return hits

    @staticmethod
    def _coverage(p: _Prepared, q: str, grams: list[tuple[str, int, int]], weights: list[float],
                  hits: Iterable[tuple[int, int]]) -> float:
        """Weight of the message's characters the entry explains (a shared gram or keyword: fully;
        the character alone: half)."""
        credit = [0.0] * len(q)
        for gram, a, b in grams:
            if gram in p.grams:
                credit[a] = credit[b] = 1.0
        for start, end in hits:
            credit[start:end] = [1.0] * (end - start)
        for k, ch in enumerate(q):
            if not credit[k] and ch in p.chars:
                credit[k] = 0.5
        return sum(w * c for w, c in zip(weights, credit, strict=True))

    @staticmethod
    def _finish(p: _Prepared, q: str, query_grams: frozenset[str], coverage: float,
                hits: Iterable[tuple[int, int]]) -> FaqMatch:
        similarities = [_dice(query_grams, s) for s in p.gram_sets]
        best = max(range(len(similarities)), key=similarities.__getitem__)
        similarity = similarities[best]
        score = 0.7 * coverage + 0.3 * similarity
        matched = _unique(q[s:e] for s, e in sorted(hits))
        if matched:
            score = max(score, 0.5 + 0.4 * coverage + 0.1 * similarity)
            return FaqMatch(p.entry, round(min(score, 0.99), 4), MatchReason.KEYWORD, matched)
        phrasing = (*p.phrasings, *p.keywords)[best]
        return FaqMatch(p.entry, round(min(score, 0.99), 4), MatchReason.SIMILAR, (phrasing,))


def _rank(m: FaqMatch) -> tuple[float, int, str]:
    return (-m.score, -m.entry.priority, m.entry.entry_id)


def _add(index: dict[str, list[int]], key: str, i: int) -> None:
    bucket = index.setdefault(key, [])
    if not bucket or bucket[-1] != i:
        bucket.append(i)


@lru_cache(maxsize=4)
def _cached_index(entries: tuple[FaqEntry, ...]) -> FaqIndex:
    return FaqIndex(entries)


def _index(entries: Iterable[FaqEntry] | FaqIndex) -> FaqIndex:
    return entries if isinstance(entries, FaqIndex) else _cached_index(tuple(entries))


def match(query: str, entries: Iterable[FaqEntry] | FaqIndex) -> FaqMatch | None:
    """The entry ``query`` asks about, or None when no entry scores ``MATCH_THRESHOLD``."""
    ranked = _index(entries).ranked(query, limit=1)
    return ranked[0] if ranked and ranked[0].score >= MATCH_THRESHOLD else None


def suggest(query: str, entries: Iterable[FaqEntry] | FaqIndex, n: int = 3) -> list[FaqMatch]:
    """Up to ``n`` entries ``query`` may be about (score ``SUGGEST_THRESHOLD`` or more), best first."""
    return [m for m in _index(entries).ranked(query, limit=n) if m.score >= SUGGEST_THRESHOLD]


# ---------------------------------------------------------------------------------- the staff format
FIELDS = ("entry_id", "question", "alt_questions", "keywords", "answer", "priority", "enabled", "updated_at")
REQUIRED = ("entry_id", "question", "answer")


def to_dict(entry: FaqEntry) -> dict[str, Any]:
    """The entry in the format staff edit (``parse_entries`` reads it back)."""
    return {
        "entry_id": entry.entry_id,
        "question": entry.question,
        "alt_questions": list(entry.alt_questions),
        "keywords": list(entry.keywords),
        "answer": entry.answer,
        "priority": entry.priority,
        "enabled": entry.enabled,
        "updated_at": entry.updated_at.isoformat(),
    }


class _Problems:
    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(f"{self.where}: {message}")


def _texts(data: Mapping[str, Any], key: str, problems: _Problems, kind: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(f"'{key}' must be a list of texts, like [\"怎么停车\", \"停车场在哪\"]")
        return ()
    texts = tuple(v.strip() for v in value if v.strip())
    for text in texts:
        if not core_text(text):
            problems.add(f"{kind} {text!r} is only courtesy words or punctuation and can never match")
        elif key == "keywords" and len(text) > MAX_KEYWORD_CHARS:
            problems.add(f"keyword {text!r} is longer than {MAX_KEYWORD_CHARS} characters; "
                         "put whole sentences in 'alt_questions'")
    return texts


def _text(data: Mapping[str, Any], key: str, problems: _Problems) -> str:
    value = data.get(key)
    if key in REQUIRED and (value is None or (isinstance(value, str) and not value.strip())):
        problems.add(f"'{key}' is missing or empty")
        return ""
    if not isinstance(value, str):
        problems.add(f"'{key}' must be a text, not {type(value).__name__}")
        return ""
    return value.strip()


def _check_answer(answer: str, problems: _Problems) -> None:
    if len(answer) > MAX_ANSWER_CHARS:
        problems.add(f"'answer' has {len(answer)} characters; keep it to {MAX_ANSWER_CHARS} "
                     "(link a page with {h5}/… for more)")
    for placeholder in _PLACEHOLDER.findall(answer):
        if placeholder != H5_PLACEHOLDER:
            problems.add(f"'answer' contains {placeholder}; the only placeholder is {H5_PLACEHOLDER} "
                         "(the H5 pages' address), e.g. {h5}/departments.html")


def _updated_at(data: Mapping[str, Any], now: datetime | None, problems: _Problems) -> datetime | None:
    value = data.get("updated_at")
    if value is None:
        if now is None:
            problems.add("'updated_at' is missing")
        return now
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        problems.add(f"'updated_at' must be a date and time with its zone, like "
                     f"\"2026-01-05T09:00:00+08:00\", not {value!r}")
        return None
    return at


def _entry(data: Any, where: str, now: datetime | None) -> tuple[FaqEntry | None, list[str]]:
    problems = _Problems(where)
    if not isinstance(data, Mapping):
        problems.add(f"must be an object with {', '.join(REQUIRED)}, not {type(data).__name__}")
        return None, problems.items
    for key in data:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; the fields are {', '.join(FIELDS)}"
            problems.add(f"unknown field '{key}'{hint}")
    entry_id = _text(data, "entry_id", problems)
    if entry_id and not _ENTRY_ID.match(entry_id):
        problems.add(f"'entry_id' {entry_id!r} may only use letters, digits, '-', '_' and '.' (at most 64)")
    question = _text(data, "question", problems)
    if question and not core_text(question):
        problems.add(f"question {question!r} is only courtesy words or punctuation and can never match")
    answer = _text(data, "answer", problems)
    _check_answer(answer, problems)
    alt_questions = _texts(data, "alt_questions", problems, "alternative question")
    keywords = _texts(data, "keywords", problems, "keyword")
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problems.add(f"'priority' must be a whole number, not {priority!r}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(f"'enabled' must be true or false, not {enabled!r}")
    updated_at = _updated_at(data, now, problems)
    if problems.items or updated_at is None:
        return None, problems.items
    return FaqEntry(entry_id, question, answer, updated_at, keywords, alt_questions, enabled, priority), []


def entry_from_dict(data: Any, now: datetime | None = None) -> FaqEntry:
    """One entry in the staff format; ``now`` stands in for a missing ``updated_at``."""
    entry, problems = _entry(data, f"entry {data.get('entry_id')!r}" if isinstance(data, Mapping) else "entry", now)
    if entry is None:
        raise FaqFormatError(problems)
    return entry


def parse_entries(raw: Any, now: datetime | None = None) -> list[FaqEntry]:
    """Entries from the staff format: a JSON list of objects with ``entry_id``, ``question``, ``answer``
    and optionally ``alt_questions``, ``keywords``, ``priority``, ``enabled``, ``updated_at``.

    Reports every problem at once (``FaqFormatError``), including ids used twice and a question that
    two entries both claim, since one of them could then never be the answer.
    """
    if not isinstance(raw, list):
        raise FaqFormatError([f"the file must hold a JSON list of entries, not {type(raw).__name__}"])
    problems: list[str] = []
    entries: list[FaqEntry] = []
    first_with_id: dict[str, int] = {}
    owner_of_phrasing: dict[str, str] = {}
    for n, data in enumerate(raw, start=1):
        entry_id = data.get("entry_id") if isinstance(data, Mapping) else None
        where = f"entry {n}" + (f" ({entry_id})" if isinstance(entry_id, str) and entry_id else "")
        entry, found = _entry(data, where, now)
        problems.extend(found)
        if isinstance(entry_id, str) and entry_id.strip():
            if entry_id.strip() in first_with_id:
                problems.append(f"{where}: 'entry_id' {entry_id!r} is already used by entry "
                                f"{first_with_id[entry_id.strip()]}")
                continue
            first_with_id[entry_id.strip()] = n
        if entry is None:
            continue
        for phrasing in (entry.question, *entry.alt_questions):
            key = core_text(phrasing)
            owner = owner_of_phrasing.setdefault(key, entry.entry_id)
            if owner != entry.entry_id:
                problems.append(f"{where}: question {phrasing!r} is also a question of {owner!r}; "
                                "keep it in one entry")
        entries.append(entry)
    if problems:
        raise FaqFormatError(problems)
    return entries
