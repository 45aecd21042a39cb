// Package wfworker is a small SDK for Workflows function workers in Go (franz-go).
//
// Register functions by name with typed input and output, then Run: the worker consumes
// <prefix>wf.fn.<function> in one consumer group per function, validates every command
// against contracts/schemas/step-command.schema.json, calls the function, validates and
// publishes the StepResult to <prefix>wf.steps.results (keyed by execution id, murmur2 like
// the Java client) and commits the offset after the broker has the result (at-least-once).
// Records that are not valid commands go to <prefix>wf.dlq. Cancel Run's context (SIGTERM)
// to drain: the commands already fetched are finished and answered, then the group is left.
package wfworker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Error is a step failure with a type; Retryable false makes it final (no more attempts;
// a fallback function still runs).
type Error struct {
	Type      string
	Message   string
	Retryable bool
	Details   map[string]any
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Retryable is a failure the orchestrator retries with the workflow's backoff.
func Retryable(typ, msg string) *Error { return &Error{Type: typ, Message: msg, Retryable: true} }

// Final is a failure that is not retried.
func Final(typ, msg string) *Error { return &Error{Type: typ, Message: msg} }

// WithDetails attaches JSON details to the error.
func (e *Error) WithDetails(details map[string]any) *Error { e.Details = details; return e }

type handler func(ctx context.Context, input json.RawMessage) (any, error)

type commandKey struct{}

type logsKey struct{}

// MaxLogLines bounds the lines one attempt attaches to its result.
const MaxLogLines = 200

type attemptLogs struct {
	mu    sync.Mutex
	lines []LogLine
	cut   int
}

// Logf records a line of the running attempt (level INFO, WARNING, ...); it travels in the
// step result and is shown by `workflows logs` and under the attempt on the dashboard.
func Logf(ctx context.Context, level, format string, args ...any) {
	logs, _ := ctx.Value(logsKey{}).(*attemptLogs)
	if logs == nil {
		return
	}
	now := time.Now().UTC()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.lines) >= MaxLogLines {
		logs.cut++
		return
	}
	logs.lines = append(logs.lines, LogLine{At: &now, Level: level, Logger: "go", Message: fmt.Sprintf(format, args...)})
}

func (l *attemptLogs) result() []LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut > 0 {
		note := fmt.Sprintf("… %d more lines cut", l.cut)
		return append(l.lines, LogLine{Level: "NOTE", Logger: "workflows", Message: note})
	}
	return l.lines
}

// CommandFrom returns the command being run (idempotency key, attempt, deadline, ...).
func CommandFrom(ctx context.Context) *Command {
	cmd, _ := ctx.Value(commandKey{}).(*Command)
	return cmd
}

// Worker serves registered functions.
type Worker struct {
	ID        string
	Contracts *Contracts
	Now       func() time.Time
	handlers  map[string]handler
	mu        sync.Mutex
	done      map[string]*Result // idempotencyKey -> final outcome (keep it durable in production)
	doneOrder []string
}

// New loads the contracts (FindContractsDir) and names the worker.
func New() (*Worker, error) {
	dir, err := FindContractsDir()
	if err != nil {
		return nil, err
	}
	contracts, err := LoadContracts(dir)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	id := os.Getenv("WORKFLOWS_WORKER_ID")
	if id == "" {
		id = fmt.Sprintf("go-%s-%d", host, os.Getpid())
	}
	return &Worker{ID: id, Contracts: contracts, Now: time.Now, handlers: map[string]handler{}, done: map[string]*Result{}}, nil
}

// Register serves function `name`: its input is decoded into In, its output encoded from Out.
// Return a *Error (Retryable / Final) to fail with a type; any other error is retryable.
func Register[In, Out any](w *Worker, name string, fn func(ctx context.Context, input In) (Out, error)) {
	w.handlers[name] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var input In
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		if err := json.Unmarshal(raw, &input); err != nil {
			return nil, Final("InputValidationError", err.Error())
		}
		return fn(ctx, input)
	}
}

// Functions lists the registered function names, sorted.
func (w *Worker) Functions() []string {
	names := make([]string, 0, len(w.handlers))
	for name := range w.handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// InvalidCommand is returned by Process for a record that is not a valid command.
type InvalidCommand struct{ Reason string }

func (e *InvalidCommand) Error() string { return e.Reason }

// Process runs one command record and returns the encoded, schema-valid result to publish,
// or an *InvalidCommand (publish a dead letter instead).
func (w *Worker) Process(ctx context.Context, value []byte) (*Result, []byte, error) {
	if err := w.Contracts.Validate(StepCommandSchema, value); err != nil {
		return nil, nil, &InvalidCommand{Reason: err.Error()}
	}
	var cmd Command
	if err := json.Unmarshal(value, &cmd); err != nil {
		return nil, nil, &InvalidCommand{Reason: err.Error()}
	}
	w.mu.Lock()
	cached := w.done[cmd.IdempotencyKey]
	w.mu.Unlock()
	result := cached
	if result == nil {
		result = w.run(ctx, &cmd)
	}
	encoded, err := json.Marshal(result)
	if err == nil {
		err = w.Contracts.Validate(StepResultSchema, encoded)
	}
	if err != nil { // the function's output cannot be sent as it is: fail the step instead
		result = w.failed(&cmd, *result.StartedAt, Final("InvalidResult", err.Error()))
		if encoded, err = json.Marshal(result); err != nil {
			return nil, nil, err
		}
	}
	if cached == nil && (result.OK || !result.Error.Retryable) {
		w.remember(cmd.IdempotencyKey, result)
	}
	return result, encoded, nil
}

func (w *Worker) remember(key string, result *Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[key] = result
	w.doneOrder = append(w.doneOrder, key)
	if len(w.doneOrder) > 10000 {
		delete(w.done, w.doneOrder[0])
		w.doneOrder = w.doneOrder[1:]
	}
}

func (w *Worker) run(ctx context.Context, cmd *Command) *Result {
	started := w.Now().UTC()
	fn, ok := w.handlers[cmd.Function]
	switch {
	case !ok:
		return w.failed(cmd, started, Final("UnknownFunction", fmt.Sprintf("no function named %q", cmd.Function)))
	case cmd.InputRef != nil:
		return w.failed(cmd, started, Final("UnsupportedInputRef", "claim-check inputs are not supported"))
	case cmd.Deadline != nil && !started.Before(*cmd.Deadline):
		return w.failed(cmd, started, Retryable("StepTimeout", "the step deadline passed before it started"))
	}
	if cmd.Deadline != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *cmd.Deadline)
		defer cancel()
	}
	logs := &attemptLogs{}
	ctx = context.WithValue(ctx, logsKey{}, logs)
	result := w.attempt(ctx, cmd, started, fn)
	result.Logs = logs.result()
	return result
}

func (w *Worker) attempt(ctx context.Context, cmd *Command, started time.Time, fn handler) *Result {
	output, err := call(context.WithValue(ctx, commandKey{}, cmd), fn, cmd.Input)
	if err != nil {
		var stepErr *Error
		if errors.As(err, &stepErr) {
			return w.failed(cmd, started, stepErr)
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return w.failed(cmd, started, Retryable("StepTimeout", "the step did not finish before its deadline"))
		}
		return w.failed(cmd, started, Retryable(errorType(err), err.Error()))
	}
	raw, err := json.Marshal(output)
	if err != nil {
		return w.failed(cmd, started, Final("OutputError", err.Error()))
	}
	result := w.envelope(cmd, started)
	result.OK, result.Output = true, raw
	return result
}

func call(ctx context.Context, fn handler, input json.RawMessage) (output any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Retryable("Panic", fmt.Sprint(r))
		}
	}()
	return fn(ctx, input)
}

func errorType(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "Error"
	}
	return t.Name()
}

func (w *Worker) failed(cmd *Command, started time.Time, e *Error) *Result {
	result := w.envelope(cmd, started)
	result.Error = &StepError{Type: e.Type, Message: e.Message, Retryable: e.Retryable, Details: e.Details}
	return result
}

func (w *Worker) envelope(cmd *Command, started time.Time) *Result {
	finished := w.Now().UTC()
	id := w.ID
	return &Result{
		SchemaVersion: 1,
		MessageID:     newID(),
		ExecutionID:   cmd.ExecutionID,
		OccurredAt:    finished,
		CommandID:     cmd.CommandID,
		StepID:        cmd.StepID,
		Attempt:       cmd.Attempt,
		WorkerID:      &id,
		StartedAt:     &started,
		FinishedAt:    &finished,
	}
}

// DeadLetterFor builds the dead letter of a record refused by Process.
func (w *Worker) DeadLetterFor(topic string, partition int32, offset int64, key, value []byte, reason string) []byte {
	letter := DeadLetter{
		SchemaVersion: 1, MessageID: newID(), OccurredAt: w.Now().UTC(), SourceTopic: topic,
		Partition: &partition, Offset: &offset, Reason: reason, ErrorType: "invalid_command",
		OriginalB64: base64.StdEncoding.EncodeToString(value), Service: w.ID,
	}
	if key != nil {
		k := string(key)
		letter.Key = &k
	}
	if utf8.Valid(value) {
		text := string(value)
		if len(text) > 65536 {
			text = strings.ToValidUTF8(text[:65536], "")
		}
		letter.OriginalText = &text
	}
	encoded, _ := json.Marshal(letter)
	return encoded
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
