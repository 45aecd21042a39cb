"""The benchmark workflows, as definitions of this engine (peers build the same shapes)."""

from __future__ import annotations

from typing import Any

CHAIN_STEPS = 10
FANOUT_BRANCHES = 100

CHAIN = "benchChain"
PAYLOAD = "benchPayload"
FANOUT = "benchFanout"


def chain_definition() -> dict[str, Any]:
    return {
        "name": CHAIN,
        "steps": [{"id": f"s{i}", "function": "benchNoop"} for i in range(1, CHAIN_STEPS + 1)],
    }


def payload_definition() -> dict[str, Any]:
    return {
        "name": PAYLOAD,
        "input": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "steps": [
            {"id": f"s{i}", "function": "benchPayload", "input": {"size": "{{input.size}}"}}
            for i in range(1, CHAIN_STEPS + 1)
        ],
        "outputMapping": {"ok": True},
    }


def fanout_definition(branches: int = FANOUT_BRANCHES) -> dict[str, Any]:
    ids = [f"b{i}" for i in range(branches)]
    return {
        "name": FANOUT,
        "parallelism": "auto",
        "steps": [
            {"id": "split", "function": "benchNoop"},
            *({"id": b, "function": "benchNoop", "dependsOn": ["split"]} for b in ids),
            {"id": "join", "function": "benchNoop", "dependsOn": ids},
        ],
    }
