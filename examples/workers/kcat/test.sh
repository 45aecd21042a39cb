#!/usr/bin/env bash
# The golden test of the kcat/bash SDK (no bats): contracts/golden/ (generated from the engine's
# models) against wfworker.sh, plus validate.jq against hand-made violations. No broker needed.
#   examples/workers/kcat/test.sh        # prints "N passed, N failed"; exit 1 on a failure
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./wfworker.sh
WF_WORKER_ID=kcat-golden
GOLDEN=$WF_CONTRACTS/golden
passed=0 failed=0

check() { # name, then a command that must succeed
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "ok - $name"
  else
    failed=$((failed + 1))
    echo "not ok - $name"
    sed 's/^/    /' <<<"$out"
  fi
}

same_fields() { # what, the SDK's list, schema stem, jq path of the properties
  local sdk schema
  sdk=$(printf '%s\n' "${@:2:$#-3}" | sort | paste -sd' ')
  schema=$(jq -r "${*: -1} | keys[]" "$WF_CONTRACTS/schemas/${*: -2:1}.schema.json" | sort | paste -sd' ')
  [[ $sdk == "$schema" ]] || {
    echo "$1: the SDK has [$sdk], the schema [$schema]: teach the kcat SDK the contract change"
    return 1
  }
}
check "the SDK knows every command field" same_fields command "${WF_COMMAND_FIELDS[@]}" step-command .properties
check "the SDK writes every result field" same_fields result "${WF_RESULT_FIELDS[@]}" step-result .properties
check "the SDK writes every error field" same_fields error "${WF_ERROR_FIELDS[@]}" step-result '.["$defs"].StepError.properties'
check "the SDK writes every dead-letter field" same_fields dead-letter "${WF_DEAD_LETTER_FIELDS[@]}" dead-letter .properties

supported() { # validate.jq knows every keyword the schemas use
  local stem out
  for stem in step-command step-result dead-letter; do
    out=$(jq -c 'null' | wf_validate "$stem" | grep "unsupported keyword") && { echo "$stem: $out"; return 1; }
  done
  return 0
}
check "validate.jq supports every keyword of the schemas" supported

MANIFEST=$GOLDEN/cases.json
COMMAND=$(jq -c . "$GOLDEN/$(jq -r .command "$MANIFEST")")
check "the golden command is valid" wf_validate step-command <<<"$COMMAND"

golden_case() { # index of the case in cases.json
  local case name does result want got fills
  case=$(jq -c ".cases[$1]" "$MANIFEST")
  name=$(jq -r .name <<<"$case")
  does=$(jq -c .function <<<"$case")
  golden_handler() {
    cat >/dev/null
    [[ -n $WF_IDEMPOTENCY_KEY ]] || { echo "no WF_IDEMPOTENCY_KEY"; exit 3; }
    if jq -e '.raises' <<<"$does" >/dev/null; then
      local r
      r=$(jq -c .raises <<<"$does")
      if jq -e .retryable <<<"$r" >/dev/null; then
        wf_retry "$(jq -r .type <<<"$r")" "$(jq -r .message <<<"$r")" "$(jq -c .details <<<"$r")"
      fi
      wf_fail "$(jq -r .type <<<"$r")" "$(jq -r .message <<<"$r")" "$(jq -c .details <<<"$r")"
    fi
    jq -c .returns <<<"$does"
  }
  WF_HANDLERS=() WF_INPUT_SCHEMAS=() WF_DONE=()
  wf_function sendPersonalizedEmail golden_handler
  got=$(wf_process "$COMMAND") || { echo "not processed: $got"; return 1; }
  wf_validate step-result <<<"$got" || return 1
  fills=$(jq -c .sdkFills "$MANIFEST")
  jq -e --argjson f "$fills" 'all($f[] as $k | .[$k]; . != null)' <<<"$got" >/dev/null || {
    echo "the SDK must fill $fills: $got"
    return 1
  }
  want=$(jq -cS --argjson f "$fills" 'delpaths([$f[] | [.]])' "$GOLDEN/$(jq -r .result <<<"$case")")
  got=$(jq -cS --argjson f "$fills" 'delpaths([$f[] | [.]])' <<<"$got")
  [[ $got == "$want" ]] || { printf '%s result differs from golden:\n want %s\n got  %s\n' "$name" "$want" "$got"; return 1; }
}
for i in $(seq 0 $(($(jq '.cases | length' "$MANIFEST") - 1))); do
  check "golden case $(jq -r ".cases[$i].name" "$MANIFEST")" golden_case "$i"
done

golden_signature() { # the exact bytes of the golden file, trailing newline and all
  local value want got
  value=$(cat "$GOLDEN/$(jq -r .signing.value "$MANIFEST")"; printf x)
  value=${value%x}
  want=$(jq -r .signing.signature "$MANIFEST")
  got=$(WORKFLOWS_SIGNING_KEY=$(jq -r .signing.key "$MANIFEST") wf_signature "$value")
  [[ $got == "$want" ]] || { printf 'want %s\ngot  %s\n' "$want" "$got"; return 1; }
}
check "the golden signature (HMAC-SHA256 of the value bytes)" golden_signature

dead_lettered() {
  local value='{"executionId": "ex-1"}' reason
  reason=$(wf_process "$value") && { echo "accepted: $reason"; return 1; }
  [[ $reason == *"missing required property commandId"* ]] || { echo "reason: $reason"; return 1; }
  wf_dead_letter wf.fn.x 0 7 ex-1 "$value" "$reason" | wf_validate dead-letter
}
check "an invalid command is dead-lettered" dead_lettered

example() {
  WF_HANDLERS=() WF_INPUT_SCHEMAS=() WF_DONE=()
  source ./email-worker.sh
  local got want
  got=$(wf_process "$COMMAND" | jq -cS .output)
  want=$(jq -cS '.output + {sentBy: "kcat"}' "$GOLDEN/step-result-ok.json")
  [[ $got == "$want" ]] || { printf 'want %s\ngot  %s\n' "$want" "$got"; return 1; }
  got=$(wf_process "$(jq -c '.input.to = "nobody" | .idempotencyKey = "other"' <<<"$COMMAND")" | jq -c .error)
  [[ $got == '{"type":"InvalidRecipient",'* ]] || { echo "bad address: $got"; return 1; }
  got=$(wf_process "$(jq -c 'del(.input.template) | .idempotencyKey = "third"' <<<"$COMMAND")" | jq -c .error)
  [[ $got == *'"type":"InputValidationError"'*'missing required property template'* ]] || { echo "no template: $got"; return 1; }
}
check "the example answers the golden command like the golden ok result" example

validator() { # hand-made violations, one per keyword validate.jq checks
  local got
  got=$(jq -c '.attempt = 0 | .executionId = "" | .function = "9x" | .deadline = "soon" | .extra = 1
    | .workflowVersion = 1.5 | .schemaVersion = 2 | del(.stepId)' <<<"$COMMAND" | wf_validate step-command)
  local want=("at /attempt: below the minimum 1" "at /executionId: shorter than 1"
    "at /function: does not match" "at /deadline: matches none of anyOf" "at /: unknown property extra"
    "at /workflowVersion: expected integer" "at /schemaVersion: must be 1"
    "at /: missing required property stepId")
  local w
  for w in "${want[@]}"; do [[ $got == *"$w"* ]] || { echo "missing '$w' in: $got"; return 1; }; done
  jq -c '.error = {type: "X", message: "m", retryable: "yes", details: null}' "$GOLDEN/step-result-ok.json" |
    wf_validate step-result >/dev/null && { echo "a string retryable passed"; return 1; }
  return 0
}
check "validate.jq reports each kind of violation" validator

trace_continued() { # the traceparent of a command's headers, as kcat's %h prints them
  local tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  [[ $(wf_traceparent "wf-signature=v1=ab,traceparent=$tp,tracestate=a=1") == "$tp" ]] &&
    [[ -z $(wf_traceparent "wf-signature=v1=ab") && -z $(wf_traceparent "") ]]
}
check "the result takes the command's traceparent back" trace_continued

attempt_span() { # the OTLP/JSON span of an attempt, child of the command's traceparent
  local tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03 r span
  r='{"executionId":"e1","stepId":"welcomeEmail","attempt":2,"ok":false,"error":{"message":"boom"}}'
  span=$(WF_FUNCTION=sendPersonalizedEmail wf_attempt_span "$tp" 1000 2000 "$r" |
    jq -c '.resourceSpans[0].scopeSpans[0].spans[0]')
  [[ -n $span ]] && jq -e '.name == "step welcomeEmail attempt 2" and .traceId == "4bf92f3577b34da6a3ce929d0e0e4736"
    and .parentSpanId == "00f067aa0ba902b7" and (.spanId | test("^[0-9a-f]{16}$"))
    and .status == {code: 2, message: "boom"} and .startTimeUnixNano == "1000"' <<<"$span" >/dev/null &&
    [[ $(WF_OTLP_TRACES='' _wf_trace_attempt "$tp" 1000 "$r") == "$tp" ]] # off: passed back
}
check "an attempt is an OTLP span under the command's trace" attempt_span

echo "$passed passed, $failed failed"
((failed == 0))
