package wfworker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
)

// SignatureHeader carries a record's signature: "v1=" and the hex HMAC-SHA256 of its value
// bytes under the deployment's signing key (docs/worker-protocol.md, "Signing").
const SignatureHeader = "wf-signature"

// Signature is the SignatureHeader value of a record whose value is value.
func Signature(key, value []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(value)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// SigningKeysFromEnv: WORKFLOWS_SIGNING_KEY first (it signs), then the JSON list in
// WORKFLOWS_SIGNING_KEYS_PREVIOUS (they still verify); none means signing is off.
func SigningKeysFromEnv() [][]byte {
	var keys [][]byte
	if k := os.Getenv("WORKFLOWS_SIGNING_KEY"); k != "" {
		keys = append(keys, []byte(k))
	}
	var previous []string
	if err := json.Unmarshal([]byte(os.Getenv("WORKFLOWS_SIGNING_KEYS_PREVIOUS")), &previous); err == nil {
		for _, k := range previous {
			if k != "" {
				keys = append(keys, []byte(k))
			}
		}
	}
	return keys
}

// SignatureProblem says why a record is not validly signed under keys ("" when it is, or
// when keys is empty: signing off).
func SignatureProblem(keys [][]byte, value []byte, headers []kgo.RecordHeader) string {
	if len(keys) == 0 {
		return ""
	}
	var given []byte
	found := false
	for _, h := range headers {
		if h.Key == SignatureHeader {
			given, found = h.Value, true
		}
	}
	if !found {
		return "the record has no wf-signature header and signing is on"
	}
	for _, key := range keys {
		if hmac.Equal(given, []byte(Signature(key, value))) {
			return ""
		}
	}
	return "the record's wf-signature does not match its value under any signing key"
}

// signed is the record with its signature header when signing is on.
func signed(keys [][]byte, r *kgo.Record) *kgo.Record {
	if len(keys) > 0 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: SignatureHeader, Value: []byte(Signature(keys[0], r.Value))})
	}
	return r
}
