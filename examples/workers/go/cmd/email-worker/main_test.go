package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"workflows.dev/workers/go/wfworker"
)

// The example function answers the golden command like the golden ok result, sentBy aside.
func TestSendPersonalizedEmailAnswersTheGoldenCommand(t *testing.T) {
	worker, err := wfworker.New()
	if err != nil {
		t.Fatal(err)
	}
	wfworker.Register(worker, "sendPersonalizedEmail", SendPersonalizedEmail)
	command, _ := os.ReadFile(filepath.Join(worker.Contracts.Dir, "golden", "step-command.json"))
	want, _ := os.ReadFile(filepath.Join(worker.Contracts.Dir, "golden", "step-result-ok.json"))
	result, _, err := worker.Process(context.Background(), command)
	if err != nil || !result.OK {
		t.Fatalf("not ok: %v %+v", err, result.Error)
	}
	var got, golden struct{ Output map[string]any }
	_ = json.Unmarshal(want, &golden)
	_ = json.Unmarshal(mustJSON(result), &got)
	if got.Output["sentBy"] != "go" {
		t.Errorf("sentBy %v", got.Output["sentBy"])
	}
	golden.Output["sentBy"] = "go"
	if len(got.Output) != len(golden.Output) || got.Output["messageId"] != golden.Output["messageId"] || got.Output["to"] != golden.Output["to"] {
		t.Errorf("output %v, golden %v", got.Output, golden.Output)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
