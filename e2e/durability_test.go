package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/tlog"
)

// ingest sends gRPC batches of `per` events from `clients` goroutines until
// stop is closed or the server fails, and returns the acknowledged ids.
func ingest(t *testing.T, s *server, clients, per int, stop <-chan struct{}) func() map[string]bool {
	c, ctx := s.grpcClient()
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := &pb.BatchCreateEventsRequest{}
				for range per {
					req.Requests = append(req.Requests, &pb.CreateEventRequest{EventId: newID(), Event: &pb.Event{
						EventTime: timestamppb.Now(), EventSource: "durability", Action: "actions/d/WRITE",
						Status: &pb.Status{}, Principal: "services/writer", SourceIpAddress: "8.8.8.8",
					}})
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				resp, err := c.BatchCreateEvents(cctx, req)
				cancel()
				if err != nil {
					return // the server is gone; unacknowledged batches may or may not be stored
				}
				mu.Lock()
				for _, e := range resp.Events {
					acked[e.Name[len("events/"):]] = true
				}
				mu.Unlock()
			}
		})
	}
	return func() map[string]bool { wg.Wait(); return acked }
}

// checkStore opens the stopped server's store directly: every acknowledged
// id must be there, and sequence numbers 0..size-1 must all be present.
func checkStore(t *testing.T, data string, acked map[string]bool) int {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(data, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	opts := pebble.DefaultOptions()
	opts.Origin = signer.Name()
	st, err := pebble.Open(filepath.Join(data, "events"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	size, _ := st.Size(t.Context())
	stored := map[string]bool{}
	var next uint64
	tree, _ := tlog.NewBuilder(0, nil)
	reader := sumtlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return st.ReadHashes(t.Context(), idx) })
	for next < size {
		recs, err := st.ReadRange(t.Context(), next, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatalf("seq %d missing below size %d", next, size)
		}
		for _, r := range recs {
			if r.Seq != next {
				t.Fatalf("gap: seq %d follows %d", r.Seq, next-1)
			}
			stored[r.Event.ID] = true
			// The tree must cover exactly the committed events, even after a
			// crash: recompute each leaf and compare roots as we go.
			id, _ := event.IDBytes(r.Event.ID)
			tree.Append(tlog.LeafHash(tlog.EventLeaf(opts.Origin, r.Seq, r.Event.ReceiveTime.UnixNano(), id, r.Salt, r.Stored).Marshal()))
			next++
			if next%997 == 0 || next == size {
				want, _ := tree.Root()
				if got, err := sumtlog.TreeHash(int64(next), reader); err != nil || got != want {
					t.Fatalf("tree of size %d: stored root %x (%v), recomputed from the events %x", next, got, err, want)
				}
			}
		}
	}
	if extra, _ := st.ReadRange(t.Context(), size, 1); len(extra) != 0 {
		t.Fatalf("event at seq %d beyond size %d", extra[0].Seq, size)
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged event %s lost", id)
		}
	}
	return int(size)
}

func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	stop := make(chan struct{})
	wait := ingest(t, s, 4, 250, stop)
	time.Sleep(1500 * time.Millisecond)
	s.kill()
	close(stop)
	acked := wait()
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged before the kill")
	}
	size := checkStore(t, data, acked)
	t.Logf("%d events acknowledged, %d stored, no gaps", len(acked), size)

	// The restarted server serves them and continues the sequence.
	s2 := startServer(t, data)
	n := 0
	for id := range acked {
		if code, body := s2.rest("GET", "/v1/events/"+id, nil); code != 200 {
			t.Fatalf("after restart GET %s: HTTP %d %v", id, code, body)
		}
		if n++; n == 50 {
			break
		}
	}
	s2.create(newID(), ev(nil))
	if err := s2.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if got := checkStore(t, data, acked); got != size+1 {
		t.Errorf("size after one more event %d, want %d", got, size+1)
	}
}

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	stop := make(chan struct{})
	wait := ingest(t, s, 2, 500, stop)
	time.Sleep(700 * time.Millisecond)
	if err := s.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, s.log)
	}
	close(stop)
	acked := wait()
	size := checkStore(t, data, acked)
	t.Logf("%d events acknowledged before and during shutdown, all stored", len(acked))
	// The checkpoint signed while shutting down covers every stored event.
	s = startServer(t, data)
	code, cp := s.rest("GET", "/v1/log/checkpoint", nil)
	if code != 200 || cp["treeSize"] != fmt.Sprint(size) {
		t.Errorf("after SIGTERM the latest checkpoint is %v; want tree size %d", cp["treeSize"], size)
	}
}
