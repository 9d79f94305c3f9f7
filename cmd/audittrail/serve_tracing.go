package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracingFlags turn on OpenTelemetry traces, exported over OTLP/gRPC.
type tracingFlags struct {
	endpoint string
	insecure bool
	sample   float64
}

func (t *tracingFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.endpoint, "otlp-endpoint", "", "OTLP/gRPC collector (HOST:PORT) to send traces to: a span per RPC, store append, group commit and search (off when empty)")
	fs.BoolVar(&t.insecure, "otlp-insecure", false, "send traces to --otlp-endpoint without TLS")
	fs.Float64Var(&t.sample, "otlp-sample", 1, "fraction of traces to keep, 0 to 1")
}

// tracer returns the server's tracer and the function that flushes and
// stops it; a no-op tracer when tracing is off.
func (t *tracingFlags) tracer(ctx context.Context, version string) (trace.Tracer, func(context.Context) error, error) {
	if t.endpoint == "" {
		return noop.NewTracerProvider().Tracer(""), func(context.Context) error { return nil }, nil
	}
	if t.sample < 0 || t.sample > 1 {
		return nil, nil, fmt.Errorf("serve: --otlp-sample %v: must be between 0 and 1", t.sample)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(t.endpoint)}
	if t.insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: --otlp-endpoint: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(t.sample))),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("audittrail"), semconv.ServiceVersion(version))),
	)
	return tp.Tracer("github.com/audittrail/audittrail"), tp.Shutdown, nil
}
