package wfworker

import (
	"encoding/json"
	"time"
)

// Command is one attempt of one step (contracts/schemas/step-command.schema.json).
// It has a field for every property of the schema: the golden test fails when the
// contract gains a property this SDK does not know yet.
type Command struct {
	SchemaVersion   int             `json:"schemaVersion"`
	MessageID       string          `json:"messageId"`
	ExecutionID     string          `json:"executionId"`
	OccurredAt      time.Time       `json:"occurredAt"`
	CommandID       string          `json:"commandId"`
	Workflow        string          `json:"workflow"`
	WorkflowVersion int             `json:"workflowVersion"`
	StepID          string          `json:"stepId"`
	Function        string          `json:"function"`
	Input           json.RawMessage `json:"input"`
	Attempt         int             `json:"attempt"`
	Deadline        *time.Time      `json:"deadline"`
	IdempotencyKey  string          `json:"idempotencyKey"`
	InputRef        *string         `json:"inputRef"`
	Priority        int             `json:"priority"`
}

// Result is the outcome of one attempt (contracts/schemas/step-result.schema.json).
// Null fields are sent, not omitted.
type Result struct {
	SchemaVersion int             `json:"schemaVersion"`
	MessageID     string          `json:"messageId"`
	ExecutionID   string          `json:"executionId"`
	OccurredAt    time.Time       `json:"occurredAt"`
	CommandID     string          `json:"commandId"`
	StepID        string          `json:"stepId"`
	Attempt       int             `json:"attempt"`
	OK            bool            `json:"ok"`
	Output        json.RawMessage `json:"output"`
	Error         *StepError      `json:"error"`
	WorkerID      *string         `json:"workerId"`
	StartedAt     *time.Time      `json:"startedAt"`
	FinishedAt    *time.Time      `json:"finishedAt"`
	Call          map[string]any  `json:"call"`
	Logs          []LogLine       `json:"logs"`
}

// LogLine is one line a function logged during the attempt (Logf); the engine stores it
// beside the execution (GET /executions/{id}/logs, workflows logs).
type LogLine struct {
	At      *time.Time `json:"at"`
	Level   string     `json:"level"`
	Logger  string     `json:"logger"`
	Message string     `json:"message"`
}

// StepError says why an attempt failed; Retryable false is final.
type StepError struct {
	Type      string         `json:"type"`
	Message   string         `json:"message"`
	Retryable bool           `json:"retryable"`
	Details   map[string]any `json:"details"`
}

// DeadLetter is what the worker publishes on wf.dlq for a record that is not a valid
// command (contracts/schemas/dead-letter.schema.json).
type DeadLetter struct {
	SchemaVersion int       `json:"schemaVersion"`
	MessageID     string    `json:"messageId"`
	OccurredAt    time.Time `json:"occurredAt"`
	SourceTopic   string    `json:"sourceTopic"`
	Partition     *int32    `json:"partition"`
	Offset        *int64    `json:"offset"`
	Key           *string   `json:"key"`
	Reason        string    `json:"reason"`
	ErrorType     string    `json:"errorType"`
	OriginalB64   string    `json:"originalB64"`
	OriginalText  *string   `json:"originalText"`
	Service       string    `json:"service"`
	ExecutionID   *string   `json:"executionId"`
}

func (e *StepError) Error() string { return e.Type + ": " + e.Message }
