"""Expressions versus JavaScript: each row's expected value is what node prints.

When node is installed, every row is cross-checked by running node once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from typing import Any

import pytest

from workflows.services.core.expressions import (
    UNDEFINED,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    evaluate,
    parse,
    to_json_string,
)
from workflows.services.core.expressions.values import format_number, is_number

INF, NAN = math.inf, math.nan

CONTEXT: dict[str, Any] = {
    "input": {
        "plan": "starter",
        "companySize": "enterprise",
        "seats": 12,
        "tags": ["a", "b"],
        "nested": {"deep": {"x": 1}},
        "empty": "",
        "zero": 0,
        "nil": None,
    },
    "items": [1, 2, 3],
    "name": "Ada",
    "obj": {},
    "arr": [],
}

TABLE: list[tuple[str, Any]] = [
    # literals
    ("1", 1),
    ("1.5", 1.5),
    ("1e3", 1000),
    ("2.5e-3", 0.0025),
    (".5", 0.5),
    ("9007199254740993", 9007199254740992),
    ("'it\\'s'", "it's"),
    ('"a\\nb"', "a\nb"),
    ('"\\u0041\\x42"', "AB"),
    ('"\\u{1F600}" === "\\uD83D\\uDE00"', True),
    ("true", True),
    ("null", None),
    ("undefined", UNDEFINED),
    ("[1, 'x', null, true]", [1, "x", None, True]),
    ("[1, 2,]", [1, 2]),
    ("{a: 1, 'b': [2], \"c d\": null,}", {"a": 1, "b": [2], "c d": None}),
    ("[]", []),
    ("{}", {}),
    # arithmetic
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("4 / 2", 2),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("5.5 % 2", 1.5),
    ("1 / 0", INF),
    ("-1 / 0", -INF),
    ("0 / 0", NAN),
    ("1 / -0", -INF),
    ("5 % 0", NAN),
    ("0.1 + 0.2", 0.30000000000000004),
    ("0.1 + 0.2 === 0.3", False),
    ("2 - 5", -3),
    ("-(-3)", 3),
    ("+4", 4),
    ("-input.seats", -12),
    ("1e308 * 10", INF),
    # string concatenation and number printing
    ('1 + "2"', "12"),
    ('"1" + 2 + 3', "123"),
    ('1 + 2 + "3"', "33"),
    ('"a" + null', "anull"),
    ('"a" + undefined', "aundefined"),
    ('"a" + true', "atrue"),
    ('"x" + 3.0', "x3"),
    ('"v" + [1, 2]', "v1,2"),
    ('"v" + [1, null, [2, 3]]', "v1,,2,3"),
    ('"o" + {}', "o[object Object]"),
    ("1e21 + ''", "1e+21"),
    ("1e-7 + ''", "1e-7"),
    ("0.000001 + ''", "0.000001"),
    ("123456789012345680000 + ''", "123456789012345680000"),
    ("1.5e300 + ''", "1.5e+300"),
    ("(0.1 * 3) + ''", "0.30000000000000004"),
    ("-0 + ''", "0"),
    ("(1 / 0) + ''", "Infinity"),
    ("(0 / 0) + ''", "NaN"),
    # strict and loose equality
    ("1 === 1", True),
    ("1 === 1.0", True),
    ('"5" === 5', False),
    ("true === 1", False),
    ("true !== 1", True),
    ("null === undefined", False),
    ("null == undefined", True),
    ("undefined == null", True),
    ("null == 0", False),
    ("0 == null", False),
    ("NaN === NaN", False),
    ("NaN !== NaN", True),
    ("[] === []", False),
    ("items === items", True),
    ("0 === -0", True),
    ('"a" != "b"', True),
    ('input.plan === "starter"', True),
    # comparisons
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 2.5", True),
    ('"a" < "b"', True),
    ('"B" < "a"', True),
    ('"10" < "9"', True),
    ("NaN < 1", False),
    ("NaN >= NaN", False),
    ("input.seats >= 12", True),
    # loose equality and comparisons coerce exactly as JavaScript does
    ('"1" == 1', True),
    ('1 == "1.0"', True),
    ('"" == 0', True),
    ('" 12 " == 12', True),
    ('"abc" == NaN', False),
    ("0 == false", True),
    ('"0" == false', True),
    ('"1" != true', False),
    ('"true" == true', False),
    ("null == false", False),
    ("undefined == 0", False),
    ("null != 0", True),
    ("[1] == 1", True),
    ('[1, 2] == "1,2"', True),
    ("[] == false", True),
    ('{} == "[object Object]"', True),
    ("items == items", True),
    ("[] == []", False),
    ("input.seats == '12'", True),
    ('1 < "2"', True),
    ('"10" < 9', False),
    ("null < 1", True),
    ("null >= 0", True),
    ("null <= 0", True),
    ("null > 0", False),
    ("undefined < 1", False),
    ("undefined >= 0", False),
    ('"abc" < 1', False),
    ('"abc" >= 1', False),
    ("true > 0", True),
    ("false >= 0", True),
    ("[2] > 1", True),
    ('[1, 2] < "1,3"', True),
    ("({}) <= ({})", True),
    ("NaN <= NaN", False),
    ('"a" >= "a"', True),
    ("(1 < 2) < 3", True),
    ("(3 > 2) > 1", False),
    ("input.seats > '9'", True),
    ("input.missing < 5", False),
    ("input.nil < 5", True),
    # logical operators return operands
    ('"" || "x"', "x"),
    ('"a" || "x"', "a"),
    ("0 || null", None),
    ('1 && "y"', "y"),
    ('0 && "y"', 0),
    ('"" && 1', ""),
    ("0 ?? 5", 0),
    ("null ?? 5", 5),
    ('undefined ?? "d"', "d"),
    ('"" ?? 5', ""),
    ("false ?? 1", False),
    ('input.nil ?? "dflt"', "dflt"),
    ('input.missing ?? "dflt"', "dflt"),
    ("(null || 0) ?? 7", 0),
    ('input.plan === "enterprise" || input.companySize === "enterprise"', True),
    # truthiness and the conditional operator
    ('!!"0"', True),
    ('!!""', False),
    ("!!0", False),
    ("!!NaN", False),
    ("!![]", True),
    ("!!{}", True),
    ("!!null", False),
    ("!!undefined", False),
    ("!!obj", True),
    ("!!arr", True),
    ('!"x"', False),
    ("!input.empty", True),
    ("[] ? 1 : 2", 1),
    ("{} ? 1 : 2", 1),
    ('0 ? "a" : "b"', "b"),
    ("1 ? 2 : 3 ? 4 : 5", 2),
    ("0 ? 2 : 0 ? 4 : 5", 5),
    ("input.zero ? 'yes' : 'no'", "no"),
    # typeof
    ("typeof null", "object"),
    ("typeof undefined", "undefined"),
    ("typeof 1", "number"),
    ("typeof NaN", "number"),
    ('typeof "s"', "string"),
    ("typeof true", "boolean"),
    ("typeof []", "object"),
    ("typeof {}", "object"),
    ("typeof input.missing", "undefined"),
    ("typeof typeof 1", "string"),
    # member access and optional chaining
    ("input.plan", "starter"),
    ('input["companySize"]', "enterprise"),
    ("input.tags[1]", "b"),
    ("input.tags.length", 2),
    ("input.tags[2]", UNDEFINED),
    ("input.tags[-1]", UNDEFINED),
    ("input.missing", UNDEFINED),
    ("input?.plan", "starter"),
    ("input.missing?.deep", UNDEFINED),
    ("input.missing?.deep.deeper", UNDEFINED),
    ("input.nil?.x", UNDEFINED),
    ("input.missing?.[0]", UNDEFINED),
    ("input.nested.deep.x", 1),
    ("items[1 + 1]", 3),
    ('items["1"]', 2),
    ("items[1.5]", UNDEFINED),
    ("{a: 1, 'b': 2}.b", 2),
    ("[1, [2, 3]][1][0]", 2),
    ('"abc".length', 3),
    ('"abc"[1]', "b"),
    ('"abc"[5]', UNDEFINED),
    ("{a: [1, 2]}.a.length", 2),
    # the supported methods
    ("name.toUpperCase()", "ADA"),
    ('"Hello".toLowerCase()', "hello"),
    ('"  hi ".trim()', "hi"),
    ('"hello".includes("ell")', True),
    ('"a1".includes(1)', True),
    ('"hello".startsWith("he")', True),
    ('"hello".endsWith("lo")', True),
    ("items.includes(2)", True),
    ('items.includes("2")', False),
    ('items.join("-")', "1-2-3"),
    ('[1, null, "a", undefined].join()', "1,,a,"),
    ("input.missing?.toLowerCase()", UNDEFINED),
]

# Where we knowingly differ from JavaScript: (expression, our result, what node gives).
DIVERGENCES: list[tuple[str, Any, Any]] = [
    ("input.missing.deep", UNDEFINED, "TypeError"),  # lenient member access
    ("null.x", UNDEFINED, "TypeError"),
    ("missingRoot", UNDEFINED, "ReferenceError"),  # unknown names read as undefined
    ("input.missing.toLowerCase()", UNDEFINED, "TypeError"),
    ("({}).constructor === undefined", UNDEFINED, False),  # refused, see test below
]

# Chained comparisons: JavaScript compares the first comparison's boolean with the third
# operand; we refuse them when parsing (the hint says to write `a < b && b < c`).
CHAINED: list[str] = [
    "1 < 2 < 3",
    "3 > 2 > 1",
    "1 == 1 == 1",
    "input.seats === 12 === true",
    "0 <= input.seats <= 100",
    'input.plan == "x" != false',
    "1 < 2 == true",
]

# The list helpers and filters: (ours, the JavaScript it behaves as, context-free).
HELPER_EQUIVALENTS: list[tuple[str, str]] = [
    ("sum([1, 2, 3.5])", "[1, 2, 3.5].reduce((a, b) => a + b, 0)"),
    ("sum([0.1, 0.2, 0.3])", "[0.1, 0.2, 0.3].reduce((a, b) => a + b, 0)"),
    ("sum([])", "[].reduce((a, b) => a + b, 0)"),
    ("count([1, 2, 3])", "[1, 2, 3].length"),
    ('pluck([{a: 1}, {b: 2}, {a: "x"}], "a")', '[{a: 1}, {b: 2}, {a: "x"}].map((x) => x?.["a"])'),
    ("any([0, '', null, 3])", "[0, '', null, 3].some(Boolean)"),
    ("any([])", "[].some(Boolean)"),
    ("all([1, 'a', []])", "[1, 'a', []].every(Boolean)"),
    ("all([1, 0])", "[1, 0].every(Boolean)"),
    ("all([])", "[].every(Boolean)"),
    (
        'unique([1, "1", 1, NaN, NaN, 0, -0, null, null])',
        '[...new Set([1, "1", 1, NaN, NaN, 0, -0, null, null])]',
    ),
    ("sort([10, 9, 1, 2.5, -3])", "[10, 9, 1, 2.5, -3].sort((a, b) => a - b)"),
    ('sort(["b", "a", "B", "aa"])', '["b", "a", "B", "aa"].sort()'),
    (
        'sort([{n: 2, k: "x"}, {n: 1, k: "y"}, {n: 2, k: "z"}], "n")',
        '[{n: 2, k: "x"}, {n: 1, k: "y"}, {n: 2, k: "z"}].sort((a, b) => a.n - b.n)',
    ),
    ('"Ada" | upper', '"Ada".toUpperCase()'),
    ('"Ada" | lower', '"Ada".toLowerCase()'),
    ("undefined | default: 'n/a'", "undefined ?? 'n/a'"),
    ("0 | default: 'n/a'", "0 ?? 'n/a'"),
    ("{a: [1, undefined]} | json", "JSON.stringify({a: [1, undefined]})"),
    (
        "[{a: 3}, {a: 4}] | pluck: 'a' | sum",
        "[{a: 3}, {a: 4}].map((x) => x.a).reduce((a, b) => a + b, 0)",
    ),
    (
        '"2024-03-05T22:04:05.123-05:00" | date: "YYYY-MM-DD"',
        'new Date("2024-03-05T22:04:05.123-05:00").toISOString().slice(0, 10)',
    ),
    (
        '"2024-03-05T22:04:05.123Z" | date: "HH:mm:ss.SSS"',
        'new Date("2024-03-05T22:04:05.123Z").toISOString().slice(11, 23)',
    ),
    ("1709632800123 | date", "new Date(1709632800123).toISOString()"),
    (
        '"2024-03-05T09:04:05Z" | date: "D/M/YY H:m:s"',
        (
            "((d) => `${d.getUTCDate()}/${d.getUTCMonth() + 1}/${d.getUTCFullYear() % 100} "
            "${d.getUTCHours()}:${d.getUTCMinutes()}:${d.getUTCSeconds()}`)"
            '(new Date("2024-03-05T09:04:05Z"))'
        ),
    ),
    ('"not a date" | date: "YYYY"', 'String(new Date("not a date"))'),
]

# Coercions JavaScript performs but we refuse with an ExpressionEvaluationError.
REFUSED: list[tuple[str, Any]] = [
    ('"3" * 2', 6),
    ('"3" - 1', 2),
    ("true + 1", 2),
    ("null + 1", 1),
    ("undefined + 1", NAN),
    ("[1] + 1", "11"),
    ('+"3"', 3),
    ('-"x"', NAN),
    ("[] * 2", 0),
]


def encode(value: Any) -> str:
    """A JSON-safe tag for a JS value, computed the same way as in the node script."""
    if value is UNDEFINED:
        return "u"
    if is_number(value):
        negative_zero = value == 0 and math.copysign(1.0, value) < 0
        return "n:" + ("-0" if negative_zero else format_number(value))
    return "j:" + to_json_string(value)


@pytest.mark.parametrize(("source", "expected"), TABLE)
def test_table(source: str, expected: Any) -> None:
    assert encode(evaluate(source, CONTEXT)) == encode(expected)


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 70
    assert len({source for source, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("source", "ours", "js"), DIVERGENCES[:-1])
def test_divergences(source: str, ours: Any, js: Any) -> None:
    assert encode(evaluate(source, CONTEXT)) == encode(ours)


def test_constructor_is_refused() -> None:
    with pytest.raises(ExpressionError, match="constructor"):
        evaluate(DIVERGENCES[-1][0], CONTEXT)


@pytest.mark.parametrize(("source", "js"), REFUSED)
def test_refused_coercions(source: str, js: Any) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, CONTEXT)
    assert info.value.column >= 1
    assert isinstance(info.value, ExpressionEvaluationError)


NODE_SCRIPT = r"""
const ctx = JSON.parse(process.argv[1]);
const exprs = JSON.parse(process.argv[2]);
const enc = (v) => v === undefined ? "u"
  : typeof v === "number" ? "n:" + (Object.is(v, -0) ? "-0" : String(v))
  : "j:" + JSON.stringify(v);
const run = new Function(...Object.keys(ctx), "__src", "return eval('(' + __src + ')');");
const out = exprs.map((src) => {
  try { return enc(run(...Object.values(ctx), src)); } catch (err) { return "error:" + err.name; }
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.parametrize("source", CHAINED)
def test_chained_comparisons_are_refused(source: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="chained comparison") as info:
        parse(source)
    assert "&&" in info.value.message


@pytest.mark.parametrize(("source", "js"), HELPER_EQUIVALENTS)
def test_helpers_evaluate(source: str, js: str) -> None:
    evaluate(source, CONTEXT)  # the comparison with node is test_helpers_match_node


def run_node(sources: list[str]) -> list[str]:
    node = shutil.which("node") or ("/usr/bin/node" if os.path.exists("/usr/bin/node") else None)
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, "-e", NODE_SCRIPT, json.dumps(CONTEXT), json.dumps(sources)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: list[str] = json.loads(done.stdout)
    return results


def test_helpers_match_node() -> None:
    js = run_node([j for _, j in HELPER_EQUIVALENTS])
    ours = [encode(evaluate(source, CONTEXT)) for source, _ in HELPER_EQUIVALENTS]
    mismatches = {
        source: (mine, theirs)
        for (source, _), mine, theirs in zip(HELPER_EQUIVALENTS, ours, js, strict=True)
        if mine != theirs
    }
    assert mismatches == {}


def test_chained_comparisons_do_surprise_in_node() -> None:
    """Why they are refused: JavaScript accepts them and compares a boolean."""
    results = dict(zip(CHAINED, run_node(CHAINED), strict=True))
    assert results["3 > 2 > 1"] == "j:false"
    assert results["0 <= input.seats <= 100"] == "j:true"
    assert results["1 == 1 == 1"] == "j:true"


@pytest.fixture(scope="module")
def node_results() -> dict[str, str]:
    sources = [s for s, _ in TABLE] + [s for s, _, _ in DIVERGENCES] + [s for s, _ in REFUSED]
    return dict(zip(sources, run_node(sources), strict=True))


def test_table_matches_node(node_results: dict[str, str]) -> None:
    mismatches = {s: (encode(e), node_results[s]) for s, e in TABLE if encode(e) != node_results[s]}
    assert mismatches == {}


def test_documented_js_results_match_node(node_results: dict[str, str]) -> None:
    for source, _, js in DIVERGENCES[:-1]:
        expected = js if js in ("TypeError", "ReferenceError") else None
        if expected:
            assert node_results[source] == "error:" + expected, source
        else:
            assert node_results[source] == encode(js), source
    for source, js in REFUSED:
        assert node_results[source] == encode(js), source
