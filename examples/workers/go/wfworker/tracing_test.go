package wfworker

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"

func header(headers []kgo.RecordHeader, key string) string {
	return headerCarrier(headers).Get(key)
}

func TestTheResultTakesTheCommandsTraceBackWithTracingOff(t *testing.T) {
	command := []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}, {Key: "tracestate", Value: []byte("a=1")}, {Key: SignatureHeader, Value: []byte("x")}}
	ctx, span := startAttempt(context.Background(), command)
	if span != nil || ctx == nil {
		t.Fatal("tracing is off: no span")
	}
	back := endAttempt(span, command, &Result{StepID: "s", Attempt: 1, OK: true}, "f")
	if len(back) != 2 || header(back, "traceparent") != parent || header(back, "tracestate") != "a=1" {
		t.Fatalf("result headers %v", back)
	}
	if got := endAttempt(nil, nil, &Result{}, "f"); len(got) != 0 {
		t.Fatalf("a command without a trace: no headers, got %v", got)
	}
}

func TestTheAttemptIsAChildSpanOfTheCommandsTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	tracingOn = true
	defer func() { tracingOn = false }()
	command := []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}}
	_, span := startAttempt(context.Background(), command)
	result := &Result{ExecutionID: "e1", StepID: "welcomeEmail", Attempt: 2, OK: false, Error: &StepError{Type: "Boom", Message: "boom"}}
	back := endAttempt(span, command, result, "sendPersonalizedEmail")
	ended := recorder.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended", len(ended))
	}
	got := ended[0]
	if got.Name() != "step welcomeEmail attempt 2" {
		t.Fatalf("name %q", got.Name())
	}
	if got.Parent().SpanID().String() != "00f067aa0ba902b7" || got.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("parent %v trace %v", got.Parent().SpanID(), got.SpanContext().TraceID())
	}
	if got.Status().Description != "boom" {
		t.Fatalf("status %v", got.Status())
	}
	traceparent := header(back, "traceparent")
	if !strings.HasPrefix(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-"+got.SpanContext().SpanID().String()) {
		t.Fatalf("the result's traceparent %q is not the attempt's span", traceparent)
	}
}
