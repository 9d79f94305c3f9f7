package export

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"context"
	"fmt"
	"github.com/audittrail/audittrail/internal/store"
	"testing"
	"time"
)

// BenchmarkArchiveEncode and BenchmarkReadRange split the archive sink's
// per-event cost between reading the log and encoding objects.
func BenchmarkArchiveEncode(b *testing.B) {
	l := newTestLog(b)
	l.add(b, 1000)
	recs, _ := l.ReadRange(context.Background(), 0, 1000)
	b.ResetTimer()
	for b.Loop() {
		encodeEvents(recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}

func BenchmarkReadRange(b *testing.B) {
	l := newTestLog(b)
	l.add(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		l.ReadRange(context.Background(), 0, 1000)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}

// BenchmarkArchiveCatchUp is the archive sink reading and archiving 20000
// events of a quiescent log into a directory.
func BenchmarkArchiveCatchUp(b *testing.B) {
	l := newTestLog(b)
	for range 20 {
		l.add(b, 1000)
	}
	for i := 0; b.Loop(); i++ {
		dir, _ := NewDir(b.TempDir())
		o := DefaultOptions()
		o.Name = fmt.Sprint("s", i)
		r, _ := NewRunner(l, NewArchiveSink(dir, l, l.signer, ""), NewMetrics(nil), o)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx, time.Second); close(done) }()
		for r.Status().Next < 20000 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20000), "ns/event")
}

// BenchmarkStreamingSinks delivers 10,000-event batches (native-like JSON
// of the stored bytes' size) to a local webhook receiver and to the NATS
// server: the sinks' own throughput.
func BenchmarkStreamingSinks(b *testing.B) {
	l := newTestLog(b)
	for range 10 {
		l.add(b, 1000)
	}
	recs, _ := l.ReadRange(context.Background(), 0, 10000)
	format := func(r store.Record) ([]byte, error) { return json.Marshal(r.Event) }
	batch := Batch{First: 0, Last: 9999, Records: recs}
	b.Run("webhook", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
		defer srv.Close()
		sink, _ := NewWebhookSink(WebhookConfig{URL: srv.URL, Secret: []byte("0123456789abcdef"), Format: format})
		for b.Loop() {
			if _, err := sink.Deliver(context.Background(), nil, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("nats", func(b *testing.B) {
		url := "nats://127.0.0.1:4222"
		nc, err := nats.Connect(url)
		if err != nil {
			b.Skip("no NATS server")
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		name := fmt.Sprintf("AUDITTRAIL_BENCH_%d", time.Now().UnixNano())
		js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{"bench." + name}, Storage: jetstream.MemoryStorage})
		defer js.DeleteStream(context.Background(), name)
		sink, _ := NewNATSSink(NATSConfig{URL: url, Subject: "bench." + name, Format: format})
		defer sink.Close()
		for i := 0; b.Loop(); i++ {
			// New ids per round, or the stream would drop them as duplicates.
			for j := range batch.Records {
				e := *recs[j].Event
				e.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j)
				batch.Records[j].Event = &e
			}
			if _, err := sink.Deliver(context.Background(), nil, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "events/s")
	})
}
