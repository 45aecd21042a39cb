// email-worker serves the seed workflow's sendPersonalizedEmail with the Go SDK.
//
//	WORKFLOWS_KAFKA_BOOTSTRAP=127.0.0.1:9092 go run ./cmd/email-worker
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"workflows.dev/workers/go/wfworker"
)

// EmailInput is the step's input in the seed definition (examples/customer_onboarding.yaml).
type EmailInput struct {
	To        string            `json:"to"`
	Template  string            `json:"template"`
	Variables map[string]string `json:"variables"`
}

// EmailSent is the step's output.
type EmailSent struct {
	MessageID string `json:"messageId"`
	To        string `json:"to"`
	Template  string `json:"template"`
	SentBy    string `json:"sentBy"`
}

// SendPersonalizedEmail "sends" the e-mail: the message id derives from the idempotency
// key, so a redelivered command sends the same message.
func SendPersonalizedEmail(ctx context.Context, in EmailInput) (EmailSent, error) {
	if !strings.Contains(in.To, "@") {
		return EmailSent{}, wfworker.Final("InvalidRecipient", "input.to must be an e-mail address, got "+in.To).
			WithDetails(map[string]any{"field": "to"})
	}
	sum := sha256.Sum256([]byte(wfworker.CommandFrom(ctx).IdempotencyKey))
	return EmailSent{MessageID: hex.EncodeToString(sum[:])[:16], To: in.To, Template: in.Template, SentBy: "go"}, nil
}

func main() {
	worker, err := wfworker.New()
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	wfworker.Register(worker, "sendPersonalizedEmail", SendPersonalizedEmail)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := worker.Run(ctx, wfworker.ConfigFromEnv()); err != nil {
		slog.Error("worker failed", "error", err)
		os.Exit(1)
	}
}
