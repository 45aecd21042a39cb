#!/usr/bin/env bash
# Serves the seed workflow's sendPersonalizedEmail with kcat and jq:
#   WORKFLOWS_KAFKA_BOOTSTRAP=127.0.0.1:9092 examples/workers/kcat/email-worker.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/wfworker.sh"

# Pretend to send the e-mail; the message id derives from the idempotency key (sent once).
send_personalized_email() {
  local input to
  input=$(cat)
  to=$(jq -r .to <<<"$input")
  [[ $to == *@* ]] || wf_fail InvalidRecipient "input.to must be an e-mail address, got $to" '{"field":"to"}'
  jq -c --arg id "$(printf '%s' "$WF_IDEMPOTENCY_KEY" | sha256sum | cut -c1-16)" \
    '{messageId: $id, to: .to, template: .template, sentBy: "kcat"}' <<<"$input"
}

wf_function sendPersonalizedEmail send_personalized_email "$WF_SDK_DIR/email-input.schema.json"
[[ ${BASH_SOURCE[0]} != "$0" ]] || wf_run
