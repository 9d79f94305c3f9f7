package e2e

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// collector is an in-process OTLP/gRPC trace receiver.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) byName() map[string][]*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]*tracepb.Span{}
	for _, s := range c.spans {
		out[s.GetName()] = append(out[s.GetName()], s)
	}
	return out
}

// TestTracing: with --otlp-endpoint, a create yields its RPC span, a store
// append span under it, and a group commit span linked to the append; a
// search its RPC and store spans.
func TestTracing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, col)
	go gs.Serve(ln)
	defer gs.Stop()
	s := startServer(t, "", "--otlp-endpoint", ln.Addr().String(), "--otlp-insecure")
	s.create(newID(), ev(nil))
	s.searchAll(map[string]any{}, 10)
	deadline := time.Now().Add(15 * time.Second)
	var spans map[string][]*tracepb.Span
	for time.Now().Before(deadline) {
		spans = col.byName()
		if len(spans["CreateEvent"]) > 0 && len(spans["store.Search"]) > 0 && len(spans["pebble.commit"]) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{"CreateEvent", "store.Append", "pebble.commit", "SearchEvents", "store.Search"} {
		if len(spans[name]) == 0 {
			t.Fatalf("no %s span; got %v", name, keys(spans))
		}
	}
	create := spans["CreateEvent"][0]
	var appendSpan *tracepb.Span
	for _, a := range spans["store.Append"] {
		if string(a.GetParentSpanId()) == string(create.GetSpanId()) {
			appendSpan = a
		}
	}
	if appendSpan == nil {
		t.Fatal("no store.Append span under CreateEvent")
	}
	linked := false
	for _, c := range spans["pebble.commit"] {
		for _, l := range c.GetLinks() {
			if string(l.GetSpanId()) == string(appendSpan.GetSpanId()) {
				linked = true
			}
		}
	}
	if !linked {
		t.Error("no pebble.commit span links to the create's store.Append")
	}
}

func keys(m map[string][]*tracepb.Span) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
