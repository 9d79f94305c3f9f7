package export

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store/postgres"
	"github.com/audittrail/audittrail/internal/store/postgres/pgtest"
	"github.com/audittrail/audittrail/internal/store/storetest"
	"github.com/audittrail/audittrail/internal/tlog"
)

// Three replicas on one PostgreSQL database run the same sink: one at a
// time holds its lease, and when it goes away another takes over from the
// durable cursor. Every event ends up in exactly one object.
func TestSinkLeaseAcrossReplicas(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const origin = "test.example/audittrail/lease"
	skey, vkey, _ := tlog.GenerateKey(origin)
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	opts := postgres.DefaultOptions()
	opts.Origin = origin
	var stores []*postgres.Store
	for range 4 { // stores[0] writes and signs; the others run the sink
		st, err := postgres.Open(context.Background(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	cp, err := tlog.NewCheckpointer(stores[0], skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		evs := make([]*event.Event, n)
		for i := range evs {
			evs[i] = storetest.NewEvent(t, time.Now())
		}
		if _, err := stores[0].Append(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		if err := cp.Sign(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	add(40)
	dir, _ := NewDir(t.TempDir())
	type replica struct {
		r      *Runner
		cancel context.CancelFunc
		done   chan struct{}
	}
	var reps []*replica
	for _, st := range stores[1:] {
		r, err := NewRunner(st, NewArchiveSink(dir, st, signer, ""), NewMetrics(nil), fastOptions("shared"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		rep := &replica{r: r, cancel: cancel, done: make(chan struct{})}
		go func() { r.Run(ctx, 5*time.Second); close(rep.done) }()
		reps = append(reps, rep)
	}
	t.Cleanup(func() {
		for _, rep := range reps {
			rep.cancel()
			<-rep.done
		}
	})
	var mu sync.Mutex
	maxRunning := 0
	waitNext := func(size uint64) *replica {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			running, next := 0, uint64(0)
			var holder *replica
			for _, rep := range reps {
				if st := rep.r.Current(context.Background()); st.Running {
					running++
					holder = rep
					next = st.Next
				}
			}
			mu.Lock()
			maxRunning = max(maxRunning, running)
			mu.Unlock()
			if holder != nil && next >= size {
				return holder
			}
			if time.Now().After(deadline) {
				t.Fatalf("sink did not reach %d (running replicas: %d)", size, running)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := waitNext(40)
	// The holder goes away (its lease connection with it); another takes over.
	first.cancel()
	<-first.done
	for i, rep := range reps {
		if rep == first {
			stores[i+1].Close()
		}
	}
	add(35)
	second := waitNext(75)
	if second == first {
		t.Fatal("the stopped replica still holds the lease")
	}
	if maxRunning != 1 {
		t.Fatalf("%d replicas ran the sink at once, want exactly 1", maxRunning)
	}
	second.cancel()
	<-second.done // its final digest
	checkEachEventOnce(t, dir, LogID(origin), 75)
	rep, _ := VerifyBucket(context.Background(), dir, "", verifier)
	if !rep.OK(false) || rep.Events != 75 {
		t.Fatalf("%s %v", rep.Summary(), rep.Problems)
	}
}
