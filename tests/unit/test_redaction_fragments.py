"""Any 6+ characters of a secret are masked wherever they appear (services/core/redaction.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workflows.services.core.redaction import MASK, MIN_FRAGMENT, redact, redact_text

SECRETS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=6, max_size=40)
OTHER = st.text(alphabet="ABCDEFGHIJ .,:!", max_size=30)  # shares no character with a secret


def _fragments(secret: str) -> list[str]:
    return [secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1)]


@given(SECRETS, OTHER, OTHER, st.data())
def test_a_piece_of_a_secret_inside_any_text_is_masked(
    secret: str, before: str, after: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(secret) - MIN_FRAGMENT))
    end = data.draw(st.integers(start + MIN_FRAGMENT, len(secret)))
    text = before + secret[start:end] + after
    out = redact_text(text, (secret,))
    assert not any(f in out for f in _fragments(secret)), out
    assert out == before + MASK + after


@given(SECRETS, OTHER)
def test_text_without_a_piece_of_the_secret_is_unchanged(secret: str, text: str) -> None:
    assert redact_text(text, (secret,)) == text


def test_short_secrets_are_masked_whole_and_shorter_pieces_stay() -> None:
    assert redact_text("pin 4821 ok", ("4821",)) == "pin *** ok"
    assert redact_text("a 48 b", ("4821",)) == "a 48 b"
    assert redact_text("cut sk_liv", ("sk_live_9f8e7d",)) == "cut ***"
    assert redact_text("cut sk_li", ("sk_live_9f8e7d",)) == "cut sk_li"  # 5: too short to mask


def test_values_and_keys_of_json_are_redacted() -> None:
    data = {"echo": ["x sk_live_9f y", 3], "sk_live_9f8e7d": True}
    assert redact(data, ("sk_live_9f8e7d",)) == {"echo": ["x *** y", 3], "***": True}
