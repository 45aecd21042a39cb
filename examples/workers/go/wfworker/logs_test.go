package wfworker

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// A function's Logf lines travel in its result, in order, and the result stays valid.
func TestLogfLinesTravelInTheResult(t *testing.T) {
	c := contracts(t)
	var m manifest
	if err := json.Unmarshal(golden(t, c, "cases.json"), &m); err != nil {
		t.Fatal(err)
	}
	w := &Worker{ID: "go-logs", Contracts: c, Now: time.Now, handlers: map[string]handler{}, done: map[string]*Result{}}
	Register(w, "sendPersonalizedEmail", func(ctx context.Context, in map[string]any) (map[string]any, error) {
		Logf(ctx, "INFO", "sending to %v", in["to"])
		Logf(ctx, "WARNING", "slow smtp")
		return map[string]any{}, nil
	})
	result, encoded, err := w.Process(context.Background(), golden(t, c, m.Command))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(StepResultSchema, encoded); err != nil {
		t.Fatalf("result invalid: %v", err)
	}
	if len(result.Logs) != 2 || result.Logs[1].Level != "WARNING" || result.Logs[1].Message != "slow smtp" {
		t.Fatalf("logs: %+v", result.Logs)
	}
}
