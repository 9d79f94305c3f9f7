package export

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/testnote"
)

// natsURL is the NATS server with JetStream the tests use: pre-started on
// these machines (and by .ci/run) at 127.0.0.1:4222, or $AUDITTRAIL_TEST_NATS.
func natsURL(t *testing.T) string {
	u := os.Getenv("AUDITTRAIL_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	if c, err := net.DialTimeout("tcp", u[len("nats://"):], time.Second); err == nil {
		c.Close()
		return u
	}
	why := "NATS sink suite: needs a NATS server with JetStream at " + u
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	testnote.Skip(t, why)
	return ""
}

// The sink publishes every event once into the stream, in seq order; a
// batch delivered again (the pending range after a crash) is dropped by
// the stream's deduplication on Nats-Msg-Id.
func TestNATSSinkDedupByEventID(t *testing.T) {
	url := natsURL(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	name := fmt.Sprintf("AUDITTRAIL_TEST_%d", time.Now().UnixNano())
	subject := "audittrail.test." + name
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Duplicates: time.Minute, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(ctx, name)

	l := newTestLog(t)
	l.add(t, 40)
	format := func(r store.Record) ([]byte, error) {
		return []byte(fmt.Sprintf(`{"id":%q,"seq":%d}`, r.Event.ID, r.Seq)), nil
	}
	sink, err := NewNATSSink(NATSConfig{URL: url, Subject: subject, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runUntil(t, l, sink, fastOptions("nats"), 40)
	// A crash after publishing seqs 0..20 and before the cursor moved.
	if err := l.PutSinkCursor(ctx, "nats", []byte(`{"next":0,"pending":{"first":0,"last":20}}`)); err != nil {
		t.Fatal(err)
	}
	l.add(t, 5)
	runUntil(t, l, sink, fastOptions("nats"), 45)

	st, _ := js.Stream(ctx, name)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 45 {
		t.Fatalf("stream holds %d messages, want 45 (duplicates not dropped, or events lost)", info.State.Msgs)
	}
	for seq := uint64(1); seq <= 45; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			ID  string
			Seq uint64
		}
		json.Unmarshal(m.Data, &e)
		if e.Seq != seq-1 || m.Header.Get("Nats-Msg-Id") != e.ID {
			t.Fatalf("stream message %d is seq %d with id header %q (want seq %d, id %s)", seq, e.Seq, m.Header.Get("Nats-Msg-Id"), seq-1, e.ID)
		}
	}
}
