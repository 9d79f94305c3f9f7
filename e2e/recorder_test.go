package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/client"
)

// TestRecorderSurvivesOutageAndRestart: the SDK's recorder keeps events
// while the server is down, its spool keeps them across a restart of the
// service, and every one is stored exactly once when the server is back.
func TestRecorderSurvivesOutageAndRestart(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	addr := s.addr
	c, err := client.New("http://"+addr, s.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.DefaultRecorderOptions()
	opts.BatchSize, opts.FlushInterval, opts.MinBackoff, opts.MaxBackoff = 100, 50*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	opts.SpoolDir = t.TempDir()
	ev := func(i int) *pb.Event {
		return &pb.Event{EventTime: timestamppb.Now(), EventSource: "recorder", Action: "actions/rec/CREATE",
			Status: &pb.Status{}, Principal: "services/rec", SourceIpAddress: "10.0.0.1", Metadata: map[string]string{"n": string(rune('a' + i%26))}}
	}
	rec, err := client.NewRecorder(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	record := func(r *client.Recorder, n int) {
		for i := range n {
			id, ok := r.Record(ev(i))
			if !ok {
				t.Fatalf("event %d dropped", i)
			}
			ids[id] = true
		}
	}
	record(rec, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The audit trail goes away; the service keeps recording, then
	// restarts (its recorder closed with events unsent).
	s.kill()
	record(rec, 450)
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := rec.Close(short); err == nil {
		t.Fatal("Close reported everything sent while the server was down")
	}
	cancelShort()
	st := rec.Stats()
	if st.Retries == 0 || st.Stored != 300 {
		t.Errorf("stats while down: %+v; want retries and 300 stored", st)
	}
	// The server comes back on the same address; a new recorder replays
	// the spool, then records more.
	s2 := startServer(t, data, "--addr", addr)
	rec2, err := client.NewRecorder(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	record(rec2, 50)
	if err := rec2.Close(ctx); err != nil {
		t.Fatalf("close after the outage: %v (stats %+v)", err, rec2.Stats())
	}
	got := s2.searchAll(map[string]any{"eventSourceExact": "recorder"}, 1000)
	if len(got) != len(ids) {
		t.Fatalf("%d events stored, %d recorded", len(got), len(ids))
	}
	for _, n := range got {
		if !ids[n[len("events/"):]] {
			t.Fatalf("stored %s, never recorded", n)
		}
	}
}
