package wfworker

// The golden test: contracts/golden/ (generated from the engine's models) against this SDK.
// Run with `go test ./...` from examples/workers/go (tests/unit/test_golden_runtimes.py does).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type goldenCase struct {
	Name     string `json:"name"`
	Function struct {
		Returns json.RawMessage `json:"returns"`
		Raises  *StepError      `json:"raises"`
	} `json:"function"`
	Result string `json:"result"`
}

type manifest struct {
	Command  string       `json:"command"`
	SDKFills []string     `json:"sdkFills"`
	Cases    []goldenCase `json:"cases"`
	Signing  struct {
		Key       string `json:"key"`
		Value     string `json:"value"`
		Signature string `json:"signature"`
	} `json:"signing"`
}

func contracts(t *testing.T) *Contracts {
	t.Helper()
	dir, err := FindContractsDir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadContracts(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func golden(t *testing.T, c *Contracts, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func jsonFields(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		names = append(names, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(names)
	return names
}

func sorted(names []string) []string { sort.Strings(names); return names }

func decodeAny(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSDKKnowsEveryFieldOfTheContract(t *testing.T) {
	c := contracts(t)
	for _, check := range []struct {
		what, stem, def string
		typ             reflect.Type
	}{
		{"Command", StepCommandSchema, "", reflect.TypeOf(Command{})},
		{"Result", StepResultSchema, "", reflect.TypeOf(Result{})},
		{"StepError", StepResultSchema, "StepError", reflect.TypeOf(StepError{})},
		{"DeadLetter", DeadLetterSchema, "", reflect.TypeOf(DeadLetter{})},
	} {
		want, got := sorted(c.Properties(check.stem, check.def)), jsonFields(check.typ)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s fields %v, but %s.schema.json has %v: teach the Go SDK the contract change", check.what, got, check.stem, want)
		}
	}
}

func TestGoldenCommandDecodesAndRoundTrips(t *testing.T) {
	c := contracts(t)
	var m manifest
	if err := json.Unmarshal(golden(t, c, "cases.json"), &m); err != nil {
		t.Fatal(err)
	}
	data := golden(t, c, m.Command)
	if err := c.Validate(StepCommandSchema, data); err != nil {
		t.Fatalf("golden command invalid: %v", err)
	}
	var cmd Command
	if err := json.Unmarshal(data, &cmd); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(cmd)
	if want, got := decodeAny(t, data), decodeAny(t, again); !reflect.DeepEqual(want, got) {
		t.Errorf("the command does not survive the Go SDK's Command type:\n want %v\n got  %v", want, got)
	}
}

func TestGoldenCases(t *testing.T) {
	c := contracts(t)
	var m manifest
	if err := json.Unmarshal(golden(t, c, "cases.json"), &m); err != nil {
		t.Fatal(err)
	}
	command := golden(t, c, m.Command)
	if len(m.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, gc := range m.Cases {
		t.Run(gc.Name, func(t *testing.T) {
			w := &Worker{ID: "go-golden", Contracts: c, Now: time.Now, handlers: map[string]handler{}, done: map[string]*Result{}}
			Register(w, "sendPersonalizedEmail", func(ctx context.Context, in map[string]any) (json.RawMessage, error) {
				if CommandFrom(ctx).IdempotencyKey == "" {
					t.Error("no command in the function's context")
				}
				if raised := gc.Function.Raises; raised != nil {
					return nil, &Error{Type: raised.Type, Message: raised.Message, Retryable: raised.Retryable, Details: raised.Details}
				}
				return gc.Function.Returns, nil
			})
			_, encoded, err := w.Process(context.Background(), command)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(StepResultSchema, encoded); err != nil {
				t.Fatalf("result invalid: %v", err)
			}
			got, want := decodeAny(t, encoded), decodeAny(t, golden(t, c, gc.Result))
			for _, field := range m.SDKFills {
				if got[field] == nil {
					t.Errorf("%s: the SDK must fill %q", gc.Name, field)
				}
				delete(got, field)
				delete(want, field)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s result differs from golden/%s:\n want %v\n got  %v", gc.Name, gc.Result, want, got)
			}
		})
	}
}

func TestInvalidCommandIsDeadLettered(t *testing.T) {
	c := contracts(t)
	w := &Worker{ID: "go-golden", Contracts: c, Now: time.Now, handlers: map[string]handler{}, done: map[string]*Result{}}
	value := []byte(`{"executionId": "ex-1"}`)
	_, _, err := w.Process(context.Background(), value)
	invalid, ok := err.(*InvalidCommand)
	if !ok {
		t.Fatalf("want an InvalidCommand, got %v", err)
	}
	letter := w.DeadLetterFor("wf.fn.x", 0, 7, []byte("ex-1"), value, invalid.Reason)
	if err := c.Validate(DeadLetterSchema, letter); err != nil {
		t.Fatalf("dead letter invalid: %v", err)
	}
	if !strings.Contains(invalid.Reason, "commandId") {
		t.Errorf("the reason should name the missing field: %s", invalid.Reason)
	}
}

func TestGoldenSignature(t *testing.T) {
	c := contracts(t)
	var m manifest
	if err := json.Unmarshal(golden(t, c, "cases.json"), &m); err != nil {
		t.Fatal(err)
	}
	value := golden(t, c, m.Signing.Value)
	if got := Signature([]byte(m.Signing.Key), value); got != m.Signing.Signature {
		t.Fatalf("signature %s, golden %s", got, m.Signing.Signature)
	}
	header := []kgo.RecordHeader{{Key: SignatureHeader, Value: []byte(m.Signing.Signature)}}
	if p := SignatureProblem([][]byte{[]byte(m.Signing.Key)}, value, header); p != "" {
		t.Fatalf("a valid signature refused: %s", p)
	}
	if p := SignatureProblem([][]byte{[]byte("other")}, value, header); !strings.Contains(p, "does not match") {
		t.Fatalf("another key's signature taken: %q", p)
	}
	if p := SignatureProblem([][]byte{[]byte(m.Signing.Key)}, value, nil); !strings.Contains(p, "no wf-signature") {
		t.Fatalf("an unsigned record taken: %q", p)
	}
}
