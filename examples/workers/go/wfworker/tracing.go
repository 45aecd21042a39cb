package wfworker

// OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: each command record's `traceparent`/`tracestate`
// headers (the execution's W3C trace context, put there by the engine) are the parent of one
// span per step attempt, `step <id> attempt <n>`, exported over OTLP/HTTP; the result record
// carries that span's context back. Off, the command's trace headers go back unchanged, so the
// trace still continues through this worker.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// TraceHeaders are the W3C trace context headers a command brings and its result takes back.
var TraceHeaders = []string{"traceparent", "tracestate"}

var propagator = propagation.TraceContext{}

// tracingOn says whether ConfigureTracing installed an exporting tracer provider.
var tracingOn bool

// ConfigureTracing exports spans as `service` (OTEL_SERVICE_NAME wins) when the environment
// names an OTLP endpoint; the returned function flushes and stops the exporter.
func ConfigureTracing(ctx context.Context, service string) (func(context.Context) error, error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracehttp.New(ctx) // endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	if name := os.Getenv("OTEL_SERVICE_NAME"); name != "" {
		service = name
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter), // OTEL_BSP_SCHEDULE_DELAY etc. apply
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	otel.SetTracerProvider(provider)
	tracingOn = true
	return provider.Shutdown, nil
}

// headerCarrier reads a record's headers as a propagation carrier.
type headerCarrier []kgo.RecordHeader

func (h headerCarrier) Get(key string) string {
	for _, header := range h {
		if header.Key == key {
			return string(header.Value)
		}
	}
	return ""
}

// levelOneCarrier gives the propagator a traceparent whose flags keep only the sampled bit:
// the Python SDK sets W3C Level 2's random-trace-id flag (`-03`), which this propagator
// version refuses for version 00 (the spec says to ignore flags one does not know).
type levelOneCarrier struct{ headerCarrier }

func (c levelOneCarrier) Get(key string) string {
	value := c.headerCarrier.Get(key)
	if key != "traceparent" || len(value) != 55 || !strings.HasPrefix(value, "00-") {
		return value
	}
	flags, err := strconv.ParseUint(value[53:], 16, 8)
	if err != nil {
		return value
	}
	return fmt.Sprintf("%s%02x", value[:53], flags&1)
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, len(h))
	for i, header := range h {
		keys[i] = header.Key
	}
	return keys
}

// startAttempt starts the span of the attempt a command record holds (named once the command
// is decoded, see endAttempt), child of the record's trace headers; nil with tracing off.
func startAttempt(ctx context.Context, headers []kgo.RecordHeader) (context.Context, trace.Span) {
	if !tracingOn {
		return ctx, nil
	}
	parent := propagator.Extract(ctx, levelOneCarrier{headerCarrier(headers)})
	return otel.Tracer("workflows-go-worker").Start(parent, "step attempt", trace.WithSpanKind(trace.SpanKindConsumer))
}

// endAttempt names and ends the attempt's span with the result's outcome and returns the
// result record's trace headers: the span's context, or (tracing off) the command's own.
func endAttempt(span trace.Span, command []kgo.RecordHeader, result *Result, function string) []kgo.RecordHeader {
	if span == nil {
		var back []kgo.RecordHeader
		for _, key := range TraceHeaders {
			if value := headerCarrier(command).Get(key); value != "" {
				back = append(back, kgo.RecordHeader{Key: key, Value: []byte(value)})
			}
		}
		return back
	}
	span.SetName(fmt.Sprintf("step %s attempt %d", result.StepID, result.Attempt))
	span.SetAttributes(
		attribute.String("execution.id", result.ExecutionID),
		attribute.String("step.id", result.StepID),
		attribute.Int("step.attempt", result.Attempt),
		attribute.String("step.function", function),
	)
	if !result.OK && result.Error != nil {
		span.SetStatus(codes.Error, result.Error.Message)
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(trace.ContextWithSpan(context.Background(), span), carrier)
	span.End()
	var back []kgo.RecordHeader
	for _, key := range TraceHeaders {
		if value := carrier.Get(key); value != "" {
			back = append(back, kgo.RecordHeader{Key: key, Value: []byte(value)})
		}
	}
	return back
}
