# shellcheck shell=bash
# A tiny SDK for Workflows function workers in plain bash, with kcat (librdkafka) and jq.
#
#   source examples/workers/kcat/wfworker.sh
#   send_email() {                       # the input JSON on stdin, the output JSON on stdout
#     local to; to=$(jq -r .to)
#     [[ $to == *@* ]] || wf_fail InvalidRecipient "not an address: $to" '{"field":"to"}'
#     jq -n --arg to "$to" '{to: $to, sentBy: "kcat"}'
#   }
#   wf_function sendPersonalizedEmail send_email [input.schema.json]
#   wf_run                               # until SIGTERM/SIGINT, then drain
#
# A handler runs in a subshell with the command in WF_COMMAND (JSON) and WF_EXECUTION_ID,
# WF_STEP_ID, WF_ATTEMPT, WF_IDEMPOTENCY_KEY, WF_DEADLINE. `wf_fail TYPE MESSAGE [DETAILS]`
# ends it with a final error, `wf_retry TYPE MESSAGE [DETAILS]` with a retryable one; any
# other non-zero exit is retryable (type ExitStatus, with the end of its stderr).
#
# Kafka: one `kcat -G <prefix>wf-worker-<function>` consumer per function on
# <prefix>wf.fn.<function>; each result goes to <prefix>wf.steps.results with `kcat -P`
# (key: execution id, murmur2 partitioner, acks=all) before the next record is read; records
# that are not valid commands go to <prefix>wf.dlq. Every command, result and dead letter is
# checked against contracts/schemas/*.schema.json by validate.jq (see there what it checks).
# kcat commits the offsets of the records it has printed (auto-commit), so a worker killed
# with SIGKILL may lose the commands it had read but not answered; the step's timeout or
# deadline makes the orchestrator retry them. SIGTERM loses nothing: kcat stops fetching and
# every record it printed is answered before the worker exits.

WF_SDK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WF_BOOTSTRAP=${WORKFLOWS_KAFKA_BOOTSTRAP:-127.0.0.1:9092}
WF_PREFIX=${WORKFLOWS_TOPIC_PREFIX:-}
WF_WORKER_ID=${WORKFLOWS_WORKER_ID:-kcat-$(hostname)-$$}
WF_KCAT=${WF_KCAT:-kcat}

# The properties this SDK reads or writes: the golden test fails when a schema has others.
WF_COMMAND_FIELDS=(schemaVersion messageId executionId occurredAt commandId workflow workflowVersion
  stepId function input attempt deadline idempotencyKey inputRef priority)
WF_RESULT_FIELDS=(schemaVersion messageId executionId occurredAt commandId stepId attempt ok output
  error workerId startedAt finishedAt call logs)
WF_ERROR_FIELDS=(type message retryable details)
WF_DEAD_LETTER_FIELDS=(schemaVersion messageId occurredAt sourceTopic partition offset key reason
  errorType originalB64 originalText service executionId)

declare -A WF_HANDLERS=() WF_INPUT_SCHEMAS=() WF_DONE=()

wf_contracts_dir() { # $WORKFLOWS_CONTRACTS_DIR, else walk up from here and from $PWD
  if [[ -n ${WORKFLOWS_CONTRACTS_DIR:-} ]]; then echo "$WORKFLOWS_CONTRACTS_DIR"; return; fi
  local start dir
  for start in "$PWD" "$WF_SDK_DIR"; do
    dir=$start
    while :; do
      if [[ -f $dir/contracts/schemas/step-command.schema.json ]]; then echo "$dir/contracts"; return; fi
      [[ $dir == / ]] && break
      dir=$(dirname "$dir")
    done
  done
  echo "contracts/schemas not found: set WORKFLOWS_CONTRACTS_DIR" >&2
  return 1
}
WF_CONTRACTS=$(wf_contracts_dir) || return 1 2>/dev/null || exit 1

# wf_validate STEM|SCHEMA_FILE <<< JSON: print the violations, one a line; status 1 if any.
wf_validate() {
  local schema=$1 out
  [[ -f $schema ]] || schema=$WF_CONTRACTS/schemas/$1.schema.json
  out=$(jq -r --slurpfile schema "$schema" -f "$WF_SDK_DIR/validate.jq" 2>&1 | jq -r '.[]' 2>&1) || {
    echo "invalid JSON"
    return 1
  }
  [[ -z $out ]] || { echo "$out"; return 1; }
}

wf_function() { WF_HANDLERS[$1]=$2; [[ -z ${3:-} ]] || WF_INPUT_SCHEMAS[$1]=$3; }

_wf_error() { # retryable type message [details] -> exits the handler's subshell
  jq -nc --argjson retryable "$1" --arg type "$2" --arg message "$3" --argjson details "${4:-null}" \
    '{type: $type, message: $message, retryable: $retryable, details: $details}' >"$WF_ERROR_FILE"
  exit 1
}
wf_fail() { _wf_error false "$@"; }
wf_retry() { _wf_error true "$@"; }

_wf_now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
_wf_id() { local u; u=$(</proc/sys/kernel/random/uuid); echo "${u//-/}"; }

_wf_result() { # command started output|null error|null -> the StepResult
  jq -nc --argjson c "$1" --arg started "$2" --argjson output "$3" --argjson error "$4" \
    --arg id "$(_wf_id)" --arg now "$(_wf_now)" --arg worker "$WF_WORKER_ID" \
    '{schemaVersion: 1, messageId: $id, executionId: $c.executionId, occurredAt: $now,
      commandId: $c.commandId, stepId: $c.stepId, attempt: $c.attempt, ok: ($error == null),
      output: (if $error == null then $output else null end), error: $error,
      workerId: $worker, startedAt: $started, finishedAt: $now, call: null, logs: null}'
}

_wf_failure() { # retryable type message -> a StepError
  jq -nc --argjson r "$1" --arg t "$2" --arg m "$3" '{type: $t, message: $m, retryable: $r, details: null}'
}

_wf_expired() { # the deadline (RFC 3339, UTC or an offset) has passed
  jq -e 'if .deadline == null then false else
    (.deadline | sub("\\.[0-9]+"; "") | sub("[+]00:00$"; "Z")) as $d
    | ($d | test("Z$")) and (($d | fromdateiso8601) <= now) end' <<<"$1" >/dev/null
}

# wf_process COMMAND_JSON: print the StepResult to publish (status 0), or the reason the
# record is not a valid command (status 2: dead-letter it).
wf_process() {
  local command=$1 problems key fn started output error handler_status stderr_file
  if ! problems=$(wf_validate step-command <<<"$command"); then
    echo "${problems//$'\n'/; }"
    return 2
  fi
  key=$(jq -r .idempotencyKey <<<"$command")
  if [[ -n ${WF_DONE[$key]:-} ]]; then echo "${WF_DONE[$key]}"; return 0; fi
  fn=$(jq -r .function <<<"$command")
  started=$(_wf_now)
  output=null error=null
  if [[ -z ${WF_HANDLERS[$fn]:-} ]]; then
    error=$(_wf_failure false UnknownFunction "no function named '$fn'")
  elif [[ $(jq -r '.inputRef // ""' <<<"$command") != "" ]]; then
    error=$(_wf_failure false UnsupportedInputRef "claim-check inputs are not supported")
  elif _wf_expired "$command"; then
    error=$(_wf_failure true StepTimeout "the step deadline passed before it started")
  elif [[ -n ${WF_INPUT_SCHEMAS[$fn]:-} ]] && ! problems=$(jq -c .input <<<"$command" | wf_validate "${WF_INPUT_SCHEMAS[$fn]}"); then
    error=$(_wf_failure false InputValidationError "${problems//$'\n'/; }")
  else
    WF_ERROR_FILE=$(mktemp) stderr_file=$(mktemp)
    output=$(
      export WF_COMMAND=$command WF_ERROR_FILE
      eval "$(jq -r '@sh "export WF_EXECUTION_ID=\(.executionId) WF_STEP_ID=\(.stepId) WF_ATTEMPT=\(.attempt) WF_IDEMPOTENCY_KEY=\(.idempotencyKey) WF_DEADLINE=\(.deadline // "")"' <<<"$command")"
      jq -c .input <<<"$command" | "${WF_HANDLERS[$fn]}" 2>"$stderr_file"
    ) && handler_status=0 || handler_status=$?
    if [[ -s $WF_ERROR_FILE ]]; then
      error=$(<"$WF_ERROR_FILE")
    elif ((handler_status != 0)); then
      error=$(_wf_failure true ExitStatus "the handler exited with $handler_status: $(tail -c 500 "$stderr_file")")
    elif ! output=$(jq -ce . <<<"${output:-null}" 2>/dev/null) && [[ $output != null ]]; then
      error=$(_wf_failure false InvalidResult "the handler's output is not one JSON value")
    fi
    rm -f "$WF_ERROR_FILE" "$stderr_file"
    [[ $error == null ]] || output=null
  fi
  local result
  result=$(_wf_result "$command" "$started" "${output:-null}" "$error") || {
    result=$(_wf_result "$command" "$started" null "$(_wf_failure false InvalidResult "the handler's output is not JSON")")
  }
  if ! problems=$(wf_validate step-result <<<"$result"); then
    result=$(_wf_result "$command" "$started" null "$(_wf_failure false InvalidResult "${problems//$'\n'/; }")")
  fi
  if [[ $(jq -r 'if .ok or (.error.retryable | not) then "final" else "" end' <<<"$result") == final ]]; then
    WF_DONE[$key]=$result
  fi
  echo "$result"
}

# wf_dead_letter TOPIC PARTITION OFFSET KEY VALUE REASON: the dead-letter record.
wf_dead_letter() {
  jq -nc --arg topic "$1" --argjson partition "$2" --argjson offset "$3" --arg key "$4" \
    --arg value "$5" --arg reason "$6" --arg id "$(_wf_id)" --arg now "$(_wf_now)" \
    --arg b64 "$(printf '%s' "$5" | base64 -w0)" --arg worker "$WF_WORKER_ID" \
    '{schemaVersion: 1, messageId: $id, occurredAt: $now, sourceTopic: $topic,
      partition: $partition, offset: $offset, key: (if $key == "" then null else $key end),
      reason: $reason, errorType: "invalid_command", originalB64: $b64,
      originalText: $value[0:65536], service: $worker, executionId: null}'
}

_wf_log() { jq -nc --arg event "$1" --argjson fields "${2:-{\}}" '{event: $event} + $fields'; }

wf_signature() { # value: the wf-signature header value under WORKFLOWS_SIGNING_KEY
  printf 'v1=%s' "$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$WORKFLOWS_SIGNING_KEY" -r | cut -d' ' -f1)"
}

wf_traceparent() { # headers as kcat's %h prints them (k=v,k=v): the traceparent's value
  local header
  local -a all
  IFS=, read -ra all <<<"$1"
  for header in "${all[@]}"; do
    if [[ $header == traceparent=* ]]; then printf '%s' "${header#traceparent=}"; fi
  done
}

# Traces: with OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) set, each attempt is a span
# `step <id> attempt <n>` (service workflows-kcat-worker, or OTEL_SERVICE_NAME), child of the
# command's traceparent, posted as OTLP/JSON with curl; the result takes the span's traceparent.
WF_OTLP_TRACES=${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-${OTEL_EXPORTER_OTLP_ENDPOINT:+${OTEL_EXPORTER_OTLP_ENDPOINT%/}/v1/traces}}

wf_attempt_span() { # parent-traceparent start-ns end-ns result-json: the span as OTLP/JSON
  local parent=$1 span_id
  span_id=$(openssl rand -hex 8)
  jq -nc --arg trace "${parent:3:32}" --arg parent "${parent:36:16}" --arg span "$span_id" \
    --arg t0 "$2" --arg t1 "$3" --argjson r "$4" \
    --arg service "${OTEL_SERVICE_NAME:-workflows-kcat-worker}" --arg fn "${WF_FUNCTION:-}" '
    def attr($k; $v): {key: $k, value: (if ($v | type) == "number" then {intValue: ($v | tostring)}
      else {stringValue: ($v | tostring)} end)};
    {resourceSpans: [{resource: {attributes: [attr("service.name"; $service)]},
      scopeSpans: [{scope: {name: "workflows-kcat-worker"}, spans: [{
        traceId: $trace, spanId: $span, parentSpanId: $parent, kind: 5,
        name: "step \($r.stepId) attempt \($r.attempt)",
        startTimeUnixNano: $t0, endTimeUnixNano: $t1,
        attributes: [attr("execution.id"; $r.executionId), attr("step.id"; $r.stepId),
          attr("step.attempt"; $r.attempt), attr("step.function"; $fn)],
        status: (if $r.ok then {code: 0} else {code: 2, message: ($r.error.message // "failed")} end)
      }]}]}]}'
}

_wf_trace_attempt() { # parent-traceparent start-ns result-json: export the span, print its traceparent
  local parent=$1 body
  if [[ -z $WF_OTLP_TRACES || ! $parent =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$ ]] ||
    ! ((16#${parent:53:2} & 1)); then # off, no valid parent, or not sampled: the command's goes back
    printf '%s' "$parent"
    return
  fi
  body=$(wf_attempt_span "$parent" "$2" "$(date +%s%N)" "$3")
  curl -fsS -m 2 -o /dev/null -H 'Content-Type: application/json' --data-binary "$body" \
    "$WF_OTLP_TRACES" >&2 || _wf_log span_export_failed >&2
  printf '00-%s-%s-01' "${parent:3:32}" "$(jq -r '.resourceSpans[0].scopeSpans[0].spans[0].spanId' <<<"$body")"
}

_wf_publish() { # topic key value [traceparent]: until the broker has it (kcat -P waits)
  local attempt signed=()
  if [[ -n ${WORKFLOWS_SIGNING_KEY:-} ]]; then signed=(-H "wf-signature=$(wf_signature "$3")"); fi
  if [[ -n ${4:-} ]]; then signed+=(-H "traceparent=$4"); fi # the trace continues
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if printf '%s\n' "$3" | "$WF_KCAT" -P -b "$WF_BOOTSTRAP" -t "$1" -k "$2" -c 1 -q "${signed[@]}" \
      -X acks=all -X topic.partitioner=murmur2_random -X compression.codec=none 2>&1 |
      (! grep -q .); then
      return 0
    fi
    _wf_log publish_retry "$(jq -nc --arg t "$1" --argjson n "$attempt" '{topic: $t, attempt: $n}')" >&2
    sleep 1
  done
  return 1
}

_wf_consume() { # function: one kcat consumer's life, answering every record it printed
  local fn=$1 topic=${WF_PREFIX}wf.fn.$1 line partition offset key headers value out status fd started
  coproc WF_CONSUMER {
    exec "$WF_KCAT" -C -b "$WF_BOOTSTRAP" -G "${WF_PREFIX}wf-worker-$fn" -u -q \
      -f '%p\t%o\t%k\t%h\t%s\n' -X auto.offset.reset=earliest -X topic.metadata.refresh.interval.ms=2000 \
      -X client.id="$WF_WORKER_ID" "$topic"
  }
  WF_CONSUMER_PID_NOW=$WF_CONSUMER_PID
  fd=${WF_CONSUMER[0]}
  while :; do
    if IFS= read -r line <&"$fd"; then
      partition=${line%%$'\t'*} line=${line#*$'\t'} # split by hand: the key may be empty
      offset=${line%%$'\t'*} line=${line#*$'\t'}
      key=${line%%$'\t'*} line=${line#*$'\t'}
      headers=${line%%$'\t'*} value=${line#*$'\t'}
      status=0 started=$(date +%s%N)
      out=$(wf_process "$value") || status=$?
      if ((status == 2)); then
        _wf_publish "${WF_PREFIX}wf.dlq" "$key" "$(wf_dead_letter "$topic" "$partition" "$offset" "$key" "$value" "$out")"
        _wf_log command_dead_lettered "$(jq -nc --argjson o "$offset" --arg r "$out" '{offset: $o, reason: $r}')"
      else
        _wf_publish "${WF_PREFIX}wf.steps.results" "$(jq -r .executionId <<<"$out")" "$out" \
          "$(WF_FUNCTION=$fn _wf_trace_attempt "$(wf_traceparent "$headers")" "$started" "$out")"
        _wf_log step_done "$(jq -c '{executionId, stepId, ok}' <<<"$out")"
      fi
    elif (($? > 128)); then
      continue # a signal interrupted read: keep reading what kcat printed until it ends
    else
      break
    fi
  done
  wait "$WF_CONSUMER_PID_NOW" 2>/dev/null
}

_wf_stop() {
  WF_STOPPING=1
  _wf_log draining
  [[ -z ${WF_CONSUMER_PID_NOW:-} ]] || kill -TERM "$WF_CONSUMER_PID_NOW" 2>/dev/null
}

# wf_run: serve the registered function (one per process: run one worker per function).
# kcat ends when its topic does not exist yet (the dispatcher creates it on the first
# command): it is started again until SIGTERM/SIGINT.
wf_run() {
  local fns=("${!WF_HANDLERS[@]}") topic
  ((${#fns[@]} == 1)) || { echo "wf_run serves exactly one function (got ${#fns[@]})" >&2; return 1; }
  topic=${WF_PREFIX}wf.fn.${fns[0]}
  WF_STOPPING=0
  trap _wf_stop TERM INT
  _wf_log worker_started "$(jq -nc --arg f "${fns[0]}" --arg t "$topic" --arg w "$WF_WORKER_ID" '{function: $f, topic: $t, workerId: $w}')"
  while ((WF_STOPPING == 0)); do
    _wf_consume "${fns[0]}"
    ((WF_STOPPING == 0)) || break
    _wf_log consumer_restart "$(jq -nc --arg t "$topic" '{topic: $t, after: "1s"}')"
    sleep 1 & wait $! # interruptible by SIGTERM
  done
  _wf_log worker_drained "$(jq -nc --arg w "$WF_WORKER_ID" '{workerId: $w}')"
}
