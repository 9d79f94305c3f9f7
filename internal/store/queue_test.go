package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/audittrail/audittrail/internal/event"
)

func events(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = &event.Event{ID: uuid.NewString(), EventTime: time.Unix(1, 0), HasStatus: true}
	}
	return out
}

// TestUrgentLaneOvertakesBulk: a single event queued behind a backlog of
// large batches is written in the very next group, alone, and the server's
// own events are marked.
func TestUrgentLaneOvertakesBulk(t *testing.T) {
	q := NewAppendQueue()
	release := make(chan struct{})
	var mu sync.Mutex
	var groups [][]int // events per request, per group
	var own []bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		first := true
		q.Run(1000, func(group []*AppendRequest, _ int) {
			if first {
				<-release // hold the writer while the backlog builds
				first = false
			}
			var sizes []int
			for _, r := range group {
				sizes = append(sizes, len(r.Events))
				mu.Lock()
				own = append(own, r.Own)
				mu.Unlock()
				r.Finish(nil)
			}
			mu.Lock()
			groups = append(groups, sizes)
			mu.Unlock()
		})
	}()
	var wg sync.WaitGroup
	submit := func(ctx context.Context, n int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := q.Submit(ctx, events(n)); err != nil {
				t.Error(err)
			}
		}()
	}
	submit(context.Background(), 500) // taken by the held writer
	time.Sleep(50 * time.Millisecond)
	for range 6 {
		submit(context.Background(), 500)
	}
	time.Sleep(50 * time.Millisecond)
	submit(WithOwnEvents(context.Background()), 1)
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	q.Close()
	<-done
	if len(groups) < 3 || len(groups[1]) != 1 || groups[1][0] != 1 {
		t.Fatalf("groups %v: want the single event alone right after the held group", groups)
	}
	for _, g := range groups[2:] {
		n := 0
		for _, s := range g {
			n += s
		}
		if n > 1000 {
			t.Errorf("group of %d events, over the cap", n)
		}
	}
	owned := 0
	for _, o := range own {
		if o {
			owned++
		}
	}
	if owned != 1 {
		t.Errorf("%d requests marked own, want 1", owned)
	}
}
