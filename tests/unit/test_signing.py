"""Record signatures (contracts/signing.py): what signs, what verifies, what is refused."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import strategies as st

from workflows.contracts.signing import SIGNATURE_HEADER, Signer, sign


def test_the_header_is_v1_and_the_hex_hmac_sha256_of_the_value() -> None:
    digest = hmac.new(b"k", b'{"a":1}', hashlib.sha256).hexdigest()
    assert sign(b"k", b'{"a":1}') == b"v1=" + digest.encode()


def test_off_without_keys_signs_nothing_and_refuses_nothing() -> None:
    signer = Signer(["", *[]])
    assert not signer.enabled
    assert signer.headers(b"x") is None
    assert signer.problem(b"x", None) is None


def test_a_signed_value_verifies_and_a_changed_one_does_not() -> None:
    signer = Signer(["new"])
    headers = signer.headers(b"value")
    assert headers is not None and headers[0][0] == SIGNATURE_HEADER
    assert signer.problem(b"value", headers) is None
    assert "does not match" in (signer.problem(b"valuE", headers) or "")
    assert "no wf-signature header" in (signer.problem(b"value", [("other", b"1")]) or "")


def test_previous_keys_verify_while_the_first_signs() -> None:
    old = Signer(["old"])
    rotating = Signer(["new", "old"])
    assert rotating.problem(b"v", old.headers(b"v")) is None
    assert old.problem(b"v", rotating.headers(b"v")) is not None  # signed with the new key


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40))
def test_any_other_signature_is_refused(value: bytes, forged: bytes) -> None:
    signer = Signer(["secret"])
    if forged != sign(b"secret", value):
        assert signer.problem(value, [(SIGNATURE_HEADER, forged)]) is not None


def test_the_engine_signs_the_golden_vector_every_runtime_checks() -> None:
    from workflows.contracts.golden import render

    files = render()
    signing = json.loads(files["golden/cases.json"])["signing"]
    value = files[f"golden/{signing['value']}"].encode()
    assert sign(signing["key"].encode(), value).decode() == signing["signature"]
