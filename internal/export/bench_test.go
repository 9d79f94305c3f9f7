package export

import (
	"context"
	"fmt"
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
