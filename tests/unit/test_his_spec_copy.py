"""The simulator's copy of the hospital's contract is unchanged (when the original is at hand)."""

import pytest

from tests.conftest import ROOT, SPEC_DIR

ORIGINAL = ROOT.parent / "shared" / "his-interface"


@pytest.mark.skipif(not ORIGINAL.exists(), reason="the hospital's original is not beside this checkout")
def test_copy_matches_the_original():
    copied = sorted(p.relative_to(SPEC_DIR).as_posix() for p in SPEC_DIR.rglob("*") if p.is_file()
                    and p.name != "SOURCE.md")
    for rel in copied:
        assert (SPEC_DIR / rel).read_bytes() == (ORIGINAL / rel).read_bytes(), rel
    assert "openapi.yaml" in copied and len(copied) >= 17
