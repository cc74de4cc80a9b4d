"""Identity documents: resident ID (GB 11643) checks, masking for output (§4.5) and ages."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def make_resident_id(area: str, birth: date, sequence: int, gender: str) -> str:
    """A well-formed resident ID number: 6-digit area, birth date, 3-digit sequence (odd for male), check digit."""
    seq = sequence % 1000
    if (seq % 2 == 1) != (gender == "male"):
        seq = (seq + 1) % 1000
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


def resident_id_problems(number: str, gender: str | None, birth: date | None) -> list[str]:
    """Reasons a resident ID number is invalid or disagrees with gender / birth date; empty when fine."""
    if not _RESIDENT_ID.match(number):
        return ["must be 18 characters: 17 digits and a digit or X"]
    if check_digit(number[:17]) != number[17]:
        return ["check digit does not match"]
    problems = []
    try:
        encoded_birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return ["contains an invalid birth date"]
    if birth is not None and encoded_birth != birth:
        problems.append("birth date does not agree with birth_date")
    encoded_gender = "male" if int(number[16]) % 2 == 1 else "female"
    if gender is not None and encoded_gender != gender:
        problems.append("gender digit does not agree with gender")
    return problems


def mask_id_number(id_type: str, number: str | None) -> str | None:
    """``110101********0011`` for resident IDs; other documents keep the first and the last two characters."""
    if not number:
        return None
    if id_type == "resident_id" and len(number) == 18:
        return number[:6] + "*" * 8 + number[-4:]
    if len(number) <= 4:
        return "*" * len(number)
    return number[0] + "*" * (len(number) - 3) + number[-2:]


def mask_phone(phone: str | None) -> str | None:
    """``138****0001``."""
    if not phone:
        return None
    if len(phone) != 11:
        return phone[:2] + "*" * max(len(phone) - 4, 0) + phone[-2:]
    return phone[:3] + "****" + phone[-4:]


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
