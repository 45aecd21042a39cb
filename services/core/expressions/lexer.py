"""Tokenizer for the expression language."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from .errors import ExpressionSyntaxError
from .values import norm_number

NUM: Final = "num"
STR: Final = "str"
NAME: Final = "name"
OP: Final = "op"
EOF: Final = "eof"

# Longest operators first so that "===" wins over "==" and "=".
_OPERATORS: Final = (
    "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "??", "?.",
    "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", "(", ")", "[", "]", "{", "}",
    ",", ".", "=", "|",
)  # fmt: skip
_OP_START: Final = frozenset(op[0] for op in _OPERATORS)
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_DIGITS: Final = frozenset("0123456789")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


class Token(NamedTuple):
    kind: str
    value: Any
    column: int  # 1-based
    text: str


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def tokenize(src: str) -> list[Token]:
    """Split ``src`` into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
        elif ch in _DIGITS or (ch == "." and i + 1 < n and src[i + 1] in _DIGITS):
            i = _number(src, i, tokens)
        elif ch == '"' or ch == "'":
            i = _string(src, i, tokens)
        elif _is_name_start(ch):
            j = i + 1
            while j < n and _is_name_char(src[j]):
                j += 1
            tokens.append(Token(NAME, src[i:j], i + 1, src[i:j]))
            i = j
        elif ch in _OP_START:
            for op in _OPERATORS:
                if src.startswith(op, i):
                    # "a?.5:1" is a ternary, not optional chaining (as in JS).
                    if op == "?." and i + 2 < n and src[i + 2] in _DIGITS:
                        continue
                    tokens.append(Token(OP, op, i + 1, op))
                    i += len(op)
                    break
            else:
                raise ExpressionSyntaxError(f"unexpected character {ch!r}", i + 1, src)
        else:
            raise ExpressionSyntaxError(f"unexpected character {ch!r}", i + 1, src)
    tokens.append(Token(EOF, None, n + 1, "end of expression"))
    return tokens


def _number(src: str, start: int, tokens: list[Token]) -> int:
    i, n = start, len(src)
    while i < n and src[i] in _DIGITS:
        i += 1
    if i < n and src[i] == ".":
        i += 1
        while i < n and src[i] in _DIGITS:
            i += 1
    if i < n and src[i] in "eE":
        j = i + 1
        if j < n and src[j] in "+-":
            j += 1
        if j < n and src[j] in _DIGITS:
            while j < n and src[j] in _DIGITS:
                j += 1
            i = j
        else:
            raise ExpressionSyntaxError("invalid number exponent", start + 1, src)
    if i < n and _is_name_char(src[i]):
        raise ExpressionSyntaxError(f"invalid number {src[start : i + 1]!r}", start + 1, src)
    text = src[start:i]
    value = int(text) if text.isdigit() else float(text)
    tokens.append(Token(NUM, norm_number(value), start + 1, text))
    return i


def _string(src: str, start: int, tokens: list[Token]) -> int:
    quote, i, n = src[start], start + 1, len(src)
    out: list[str] = []
    while True:
        if i >= n or src[i] in "\n\r":
            raise ExpressionSyntaxError("unterminated string", start + 1, src)
        ch = src[i]
        if ch == quote:
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise ExpressionSyntaxError("unterminated string", start + 1, src)
        esc = src[i + 1]
        i += 2
        if esc == "u" or esc == "x":
            code, i = _code_point(src, i, esc, i - 1)
            out.append(chr(code))
        else:
            out.append(_ESCAPES.get(esc, esc))
    value = "".join(out)
    if any("\ud800" <= c <= "\udfff" for c in value):  # join surrogate pairs, keep lone ones
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    tokens.append(Token(STR, value, start + 1, src[start : i + 1]))
    return i + 1


def _code_point(src: str, i: int, esc: str, column: int) -> tuple[int, int]:
    if esc == "u" and src.startswith("{", i):
        end = src.find("}", i)
        digits = src[i + 1 : end] if end > 0 else ""
        after = end + 1
    else:
        width = 4 if esc == "u" else 2
        digits, after = src[i : i + width], i + width
        if len(digits) != width:
            digits = ""
    if not digits or not all(c in _HEX for c in digits) or int(digits, 16) > 0x10FFFF:
        raise ExpressionSyntaxError(f"invalid \\{esc} escape", column, src)
    return int(digits, 16), after
