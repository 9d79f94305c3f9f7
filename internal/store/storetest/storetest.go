// Package storetest is the conformance suite of store.Store. Every backend's
// tests call Run with a harness that opens fresh stores; the suite checks
// every contract stated in package store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/tlog"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Harness opens stores for the suite.
type Harness struct {
	// Origin is the log origin the harness opens stores with.
	Origin string
	// New returns an empty store; the harness registers its cleanup.
	New func(t *testing.T) store.Store
	// Reopen closes s and opens the same storage again.
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the whole conformance suite.
func Run(t *testing.T, h Harness) {
	t.Run("AppendAssignsDenseSeqs", func(t *testing.T) { testDenseSeqs(t, h) })
	t.Run("Duplicates", func(t *testing.T) { testDuplicates(t, h) })
	t.Run("GetRoundTrip", func(t *testing.T) { testGetRoundTrip(t, h) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, h) })
	t.Run("ReadRange", func(t *testing.T) { testReadRange(t, h) })
	t.Run("TreeCoversEveryEvent", func(t *testing.T) { testTree(t, h) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, h) })
	t.Run("SearchMatchesModel", func(t *testing.T) { testSearchModel(t, h) })
	t.Run("SearchTimeBounds", func(t *testing.T) { testTimeBounds(t, h) })
	t.Run("SearchSnapshot", func(t *testing.T) { testSnapshot(t, h) })
	t.Run("SearchDeadline", func(t *testing.T) { testDeadline(t, h) })
	t.Run("SearchWorkspaceSet", func(t *testing.T) { testWorkspaceSet(t, h) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, h) })
	t.Run("LoginNames", func(t *testing.T) { testLoginNames(t, h) })
	t.Run("SinkCursors", func(t *testing.T) { testSinkCursors(t, h) })
	t.Run("AwkwardText", func(t *testing.T) { testAwkwardText(t, h) })
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// NewEvent returns a valid, normalised event with a fresh id.
func NewEvent(t testing.TB, at time.Time) *event.Event {
	t.Helper()
	e := &event.Event{
		ID:              uuid.NewString(),
		EventTime:       at,
		EventSource:     "test-source",
		Action:          "actions/test/things/CREATE",
		HasStatus:       true,
		Principal:       "users/u1",
		SourceIPAddress: "8.8.8.8",
	}
	if err := event.DefaultRules().Normalize(e, at); err != nil {
		t.Fatalf("NewEvent: %v", err)
	}
	return e
}

func mustAppend(t *testing.T, s store.Store, evs ...*event.Event) []store.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), evs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(res) != len(evs) {
		t.Fatalf("Append returned %d results for %d events", len(res), len(evs))
	}
	return res
}

func testDenseSeqs(t *testing.T, h Harness) {
	s := h.New(t)
	var want uint64
	var lastRecv time.Time
	for call := range 5 {
		evs := make([]*event.Event, call+1)
		for i := range evs {
			evs[i] = NewEvent(t, base.Add(-time.Duration(i)*time.Second))
		}
		for i, r := range mustAppend(t, s, evs...) {
			if r.Err != nil {
				t.Fatalf("call %d event %d: %v", call, i, r.Err)
			}
			if r.Seq != want {
				t.Fatalf("call %d event %d: seq %d, want %d", call, i, r.Seq, want)
			}
			if r.ReceiveTime.IsZero() || r.ReceiveTime.Before(lastRecv) {
				t.Fatalf("receive time %v after %v: must be set and never decrease", r.ReceiveTime, lastRecv)
			}
			lastRecv = r.ReceiveTime
			want++
		}
	}
	if n, err := s.Size(context.Background()); err != nil || n != want {
		t.Fatalf("Size = %d, %v; want %d", n, err, want)
	}
}

func testDuplicates(t *testing.T, h Harness) {
	s := h.New(t)
	a := NewEvent(t, base)
	mustAppend(t, s, a)
	changed := *a
	changed.Action = "actions/other/CHANGED"
	b := NewEvent(t, base)
	res := mustAppend(t, s, &changed, b, b)
	if !errors.Is(res[0].Err, store.ErrAlreadyExists) {
		t.Errorf("existing id: err %v, want ErrAlreadyExists", res[0].Err)
	}
	if res[1].Err != nil || res[1].Seq != 1 {
		t.Errorf("new id: %+v, want seq 1 (duplicates consume no seq)", res[1])
	}
	if !errors.Is(res[2].Err, store.ErrAlreadyExists) {
		t.Errorf("id repeated in one call: err %v, want ErrAlreadyExists", res[2].Err)
	}
	got, err := s.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Event.Action != a.Action {
		t.Errorf("stored event changed by a duplicate: action %q", got.Event.Action)
	}
	if n, _ := s.Size(context.Background()); n != 2 {
		t.Errorf("Size = %d, want 2", n)
	}
}

func testGetRoundTrip(t *testing.T, h Harness) {
	s := h.New(t)
	e := NewEvent(t, base.Add(123456789*time.Nanosecond))
	e.Resource = "//svc/workspaces/w1/things/t\x00x"
	e.Workspace = "workspaces/w1"
	e.UserAgent = "ua/1.0 (ünïcode)"
	e.ReadOnly = true
	e.Status = event.Status{Code: 7, Message: "denied"}
	e.Metadata = map[string]string{"a": "1", "b2": ""}
	e.RequestParameters = map[string]string{"Q": "x y", "": "empty key"}
	e.Type = event.TypeSystem
	r := mustAppend(t, s, e)[0]
	got, err := s.Get(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *e
	want.ReceiveTime = r.ReceiveTime
	if got.Seq != r.Seq {
		t.Errorf("seq %d, want %d", got.Seq, r.Seq)
	}
	if d := cmp.Diff(&want, got.Event, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("Get differs from appended (-want +got):\n%s", d)
	}
	if _, err := s.Get(context.Background(), uuid.NewString()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get unknown id: %v, want ErrNotFound", err)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	s := h.New(t)
	const workers, calls, per = 8, 10, 25
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				evs := make([]*event.Event, per)
				for i := range evs {
					evs[i] = NewEvent(t, base)
				}
				res, err := s.Append(context.Background(), evs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, r := range res {
					if seen[r.Seq] {
						t.Errorf("seq %d assigned twice", r.Seq)
					}
					seen[r.Seq] = true
					if i > 0 && r.Seq != res[i-1].Seq+1 {
						t.Errorf("seqs of one call not contiguous: %d after %d", r.Seq, res[i-1].Seq)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range uint64(workers * calls * per) {
		if !seen[i] {
			t.Fatalf("gap: seq %d never assigned", i)
		}
	}
}

func testReopen(t *testing.T, h Harness) {
	s := h.New(t)
	a := NewEvent(t, base)
	mustAppend(t, s, a, NewEvent(t, base))
	s = h.Reopen(t, s)
	if _, err := s.Get(context.Background(), a.ID); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if res := mustAppend(t, s, a, NewEvent(t, base)); !errors.Is(res[0].Err, store.ErrAlreadyExists) || res[1].Seq != 2 {
		t.Fatalf("after reopen: %+v; want duplicate then seq 2", res)
	}
}

// dataset builds n varied events with many ties in event_time.
func dataset(t *testing.T, rng *rand.Rand, n int) []*event.Event {
	principals := []string{"users/0001", "users/0002", "users/0013", "users/1000", "services/ingest", "services/in"}
	actions := []string{"actions/a/things/CREATE", "actions/a/things/DELETE", "actions/b/GET", "actions/b/CREATE_X"}
	sources := []string{"src-a", "src-b", "src-c"}
	ips := []string{"8.8.8.8", "10.0.0.1", "2001:4860::1", "1.1.1.1"}
	evs := make([]*event.Event, n)
	for i := range evs {
		e := NewEvent(t, base.Add(-time.Duration(rng.IntN(n/3+1))*time.Minute))
		e.Principal = principals[rng.IntN(len(principals))]
		e.Action = actions[rng.IntN(len(actions))]
		e.EventSource = sources[rng.IntN(len(sources))]
		e.SourceIPAddress = ips[rng.IntN(len(ips))]
		if rng.IntN(4) > 0 {
			e.Resource = fmt.Sprintf("//svc/workspaces/w%d/things/t%d", rng.IntN(3), rng.IntN(5))
		}
		switch rng.IntN(8) {
		case 0: // workspace_override "" wins over the resource's
			e.WorkspaceOverride = ptr("")
		case 1:
			e.WorkspaceOverride = ptr("workspaces/w9")
		}
		e.ReadOnly = rng.IntN(2) == 0
		e.Status = event.Status{Code: int32(rng.IntN(4) * 3)}
		e.Type = event.Type(rng.IntN(3))
		if rng.IntN(2) == 0 {
			e.Metadata = map[string]string{"env": []string{"prod", "dev"}[rng.IntN(2)], "tier": fmt.Sprint(rng.IntN(3))}
		}
		if err := event.DefaultRules().Normalize(e, base); err != nil {
			t.Fatal(err)
		}
		evs[i] = e
	}
	return evs
}

func ptr[T any](v T) *T { return &v }

// filterCases are the filters the model test runs; each exercises a
// different access path or condition.
func filterCases() map[string]event.FilterSpec {
	ex := func(f event.Field, v string) event.FilterSpec {
		var s event.FilterSpec
		s.Exact[f] = &v
		return s
	}
	re := func(f event.Field, v string) event.FilterSpec {
		var s event.FilterSpec
		s.Regex[f] = &v
		return s
	}
	both := ex(event.FieldPrincipal, "users/0001")
	both.Exact[event.FieldAction] = ptr("actions/b/GET")
	both.Regex[event.FieldResource] = ptr("t[0-2]$")
	emptyAndMore := ex(event.FieldResource, "")
	emptyAndMore.Exact[event.FieldPrincipal] = ptr("users/0002")
	cases := map[string]event.FilterSpec{
		"all":                          {},
		"window":                       {Start: ptr(base.Add(-40 * time.Minute)), End: ptr(base.Add(-10 * time.Minute))},
		"principal exact":              ex(event.FieldPrincipal, "users/0002"),
		"principal services/in":        ex(event.FieldPrincipal, "services/in"),
		"action exact":                 ex(event.FieldAction, "actions/a/things/CREATE"),
		"source exact":                 ex(event.FieldEventSource, "src-b"),
		"resource exact":               ex(event.FieldResource, "//svc/workspaces/w1/things/t2"),
		"workspace exact":              ex(event.FieldWorkspace, "workspaces/w2"),
		"ip exact private":             ex(event.FieldSourceIP, "private"),
		"ip exact normalised":          ex(event.FieldSourceIP, "10.9.9.9"),
		"ip exact v6":                  ex(event.FieldSourceIP, "2001:4860::1"),
		"exact no match":               ex(event.FieldPrincipal, "users/nobody"),
		"principal prefix":             re(event.FieldPrincipal, "^users/00"),
		"principal prefix svc":         re(event.FieldPrincipal, "^services/in"),
		"principal anchored alt":       re(event.FieldPrincipal, "^users/(0001|1000)$"),
		"principal unanchored":         re(event.FieldPrincipal, "00"),
		"action suffix":                re(event.FieldAction, ".*CREATE$"),
		"action alternation":           re(event.FieldAction, "(DELETE|GET)"),
		"resource prefix":              re(event.FieldResource, "^//svc/workspaces/w1/"),
		"workspace regex":              re(event.FieldWorkspace, "w[02]$"),
		"ip regex":                     re(event.FieldSourceIP, `^\d+\.`),
		"source regex":                 re(event.FieldEventSource, "-[ab]"),
		"combined":                     both,
		"status":                       {StatusCodeRegex: ptr("^(0|3)$")},
		"status regex empty":           {StatusCodeRegex: ptr("")},
		"workspace override w9":        ex(event.FieldWorkspace, "workspaces/w9"),
		"resource empty and principal": emptyAndMore,
		"read only":                    {ReadOnly: ptr(true)},
		"not read only":                {ReadOnly: ptr(false)},
		"metadata exact":               {MetadataExact: map[string]string{"env": "prod"}},
		"metadata exact two":           {MetadataExact: map[string]string{"env": "dev", "tier": "1"}},
		"metadata regex":               {MetadataRegex: map[string]string{"tier": "^[01]$"}},
		"include system":               {IncludeTypes: []event.Type{event.TypeSystem}},
		"include unspecified":          {IncludeTypes: []event.Type{event.TypeUnspecified}},
		"exclude api":                  {ExcludeTypes: []event.Type{event.TypeAPI}},
	}
	// A set "" is a value (SPEC §3): exact "" selects the events whose field
	// is empty (none for the required fields), regex "" every event.
	for f := range event.NumFields {
		cases[f.Name()+" exact empty"] = ex(f, "")
		cases[f.Name()+" regex empty"] = re(f, "")
	}
	return cases
}

// modelStore is a store loaded with the model dataset and the seqs it
// assigned.
type modelStore struct {
	s    store.Store
	evs  []*event.Event
	seqs map[string]uint64
}

func newModelStore(t *testing.T, h Harness) *modelStore {
	m := &modelStore{s: h.New(t), seqs: map[string]uint64{}}
	m.evs = dataset(t, rand.New(rand.NewPCG(1, 2)), 600)
	for i := 0; i < len(m.evs); i += 97 {
		chunk := m.evs[i:min(i+97, len(m.evs))]
		for j, r := range mustAppend(t, m.s, chunk...) {
			m.seqs[chunk[j].ID] = r.Seq
		}
	}
	return m
}

// check compares the store's paged results for f with the model's.
func (m *modelStore) check(t *testing.T, f *event.Filter) {
	t.Helper()
	var want []string
	sorted := slices.Clone(m.evs)
	slices.SortFunc(sorted, func(a, b *event.Event) int {
		if c := b.EventTime.Compare(a.EventTime); c != 0 {
			return c
		}
		return int(m.seqs[b.ID]) - int(m.seqs[a.ID])
	})
	for _, e := range sorted {
		if f.Match(e) {
			want = append(want, e.ID)
		}
	}
	for _, limit := range []int{1, 7, 1000} {
		got := searchAll(t, m.s, store.Query{Filter: f, Limit: limit})
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("limit %d: results differ from model (-want +got):\n%s", limit, d)
		}
	}
}

func testSearchModel(t *testing.T, h Harness) {
	m := newModelStore(t, h)
	for name, spec := range filterCases() {
		t.Run(name, func(t *testing.T) {
			f, err := spec.Compile(base.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			m.check(t, f)
		})
	}
}

// testWorkspaceSet checks the narrowing of workspace-scoped readers: only
// events of the allowed workspaces, never those without one, combined with
// each kind of filter.
func testWorkspaceSet(t *testing.T, h Harness) {
	m := newModelStore(t, h)
	sets := map[string][]string{
		"none":      {},
		"one":       {"workspaces/w1"},
		"two":       {"workspaces/w0", "workspaces/w2"},
		"unknown":   {"workspaces/nope"},
		"all three": {"workspaces/w0", "workspaces/w1", "workspaces/w2"},
	}
	for setName, set := range sets {
		for name, spec := range filterCases() {
			t.Run(setName+"/"+name, func(t *testing.T) {
				f, err := spec.Compile(base.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				f.Workspaces = set
				m.check(t, f)
				for _, r := range searchRecords(t, m.s, store.Query{Filter: f, Limit: 1000}) {
					if !slices.Contains(set, r.Event.Workspace) {
						t.Fatalf("event of workspace %q returned for set %v", r.Event.Workspace, set)
					}
				}
			})
		}
	}
}

// searchAll follows Next until the scan completes and returns the ids.
func searchAll(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	var ids []string
	for _, r := range searchRecords(t, s, q) {
		ids = append(ids, r.Event.ID)
	}
	return ids
}

// searchRecords follows Next until the scan completes.
func searchRecords(t *testing.T, s store.Store, q store.Query) []store.Record {
	t.Helper()
	var recs []store.Record
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("search does not terminate")
		}
		res, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("Search: %v", err)
		}
		if len(res.Records) > q.Limit {
			t.Fatalf("page of %d records exceeds limit %d", len(res.Records), q.Limit)
		}
		recs = append(recs, res.Records...)
		if res.Next == nil {
			return recs
		}
		q.After, q.Size = res.Next, res.Size
	}
}

func testTimeBounds(t *testing.T, h Harness) {
	s := h.New(t)
	epoch := time.Unix(0, 0).UTC()
	at := []time.Time{base.Add(-2 * time.Nanosecond), base.Add(-time.Nanosecond), base, base.Add(time.Nanosecond), epoch}
	var evs []*event.Event
	for _, a := range at {
		evs = append(evs, NewEvent(t, a))
	}
	mustAppend(t, s, evs...)
	// SPEC §3: any valid timestamp (0001–9999) searches correctly; event
	// times lie in 1970…2262, and ranges reaching past them must not
	// overflow into an empty answer.
	year := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       []int
	}{
		{"start inclusive end exclusive", base.Add(-time.Nanosecond), base.Add(time.Nanosecond), []int{2, 1}},
		{"start equals end", base, base, nil},
		{"everything", base.Add(-time.Hour), base.Add(time.Hour), []int{3, 2, 1, 0}},
		{"from year 1 to year 9999", year(1), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), []int{3, 2, 1, 0, 4}},
		{"from 1969", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), base, []int{1, 0, 4}},
		{"epoch inclusive", epoch, epoch.Add(time.Nanosecond), []int{4}},
		{"ends at the epoch", year(1), epoch, nil},
		{"ends before 1970", year(1), year(1969), nil},
		{"to beyond 2262", base, year(2300), []int{3, 2}},
		{"starts beyond 2262", year(2263), year(9999), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := (&event.FilterSpec{Start: &tc.start, End: &tc.end}).Compile(base)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, i := range tc.want {
				want = append(want, evs[i].ID)
			}
			if d := cmp.Diff(want, searchAll(t, s, store.Query{Filter: f, Limit: 2})); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func testSnapshot(t *testing.T, h Harness) {
	s := h.New(t)
	for range 5 {
		mustAppend(t, s, NewEvent(t, base))
	}
	f, _ := (&event.FilterSpec{}).Compile(base.Add(time.Hour))
	first, err := s.Search(context.Background(), store.Query{Filter: f, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if first.Size != 5 || first.Next == nil {
		t.Fatalf("first page: size %d next %v; want size 5 and a next position", first.Size, first.Next)
	}
	late := NewEvent(t, base.Add(-time.Hour)) // would sort after the cursor
	mustAppend(t, s, late)
	rest := searchAll(t, s, store.Query{Filter: f, Limit: 2, After: first.Next, Size: first.Size})
	if len(rest) != 3 || slices.Contains(rest, late.ID) {
		t.Fatalf("later pages %v: want the 3 remaining events of the snapshot only", rest)
	}
}

func testDeadline(t *testing.T, h Harness) {
	s := h.New(t)
	var evs []*event.Event
	for i := range 300 {
		evs = append(evs, NewEvent(t, base.Add(-time.Duration(i)*time.Second)))
	}
	mustAppend(t, s, evs...)
	spec := event.FilterSpec{}
	spec.Regex[event.FieldAction] = ptr("NEVER")
	f, _ := spec.Compile(base.Add(time.Hour))
	q := store.Query{Filter: f, Limit: 10, Deadline: time.Now().Add(-time.Second)}
	res, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Next == nil {
		t.Fatal("a search past its deadline over 300 non-matching events returned no Next position")
	}
	// Resuming with expired deadlines must still make progress and end.
	for pages := 1; res.Next != nil; pages++ {
		if pages > 300 {
			t.Fatal("no progress under an expired deadline")
		}
		q.After, q.Size = res.Next, res.Size
		if res, err = s.Search(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 0 {
			t.Fatal("matched an event that the filter excludes")
		}
	}
}

func testReadRange(t *testing.T, h Harness) {
	s := h.New(t)
	var evs []*event.Event
	for i := range 10 {
		evs = append(evs, NewEvent(t, base.Add(time.Duration(i%3)*time.Hour)))
	}
	mustAppend(t, s, evs[:4]...)
	mustAppend(t, s, evs[4:]...)
	for _, tc := range []struct {
		from uint64
		n    int
		want []int
	}{{0, 100, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, {3, 2, []int{3, 4}}, {9, 5, []int{9}}, {10, 5, nil}} {
		got, err := s.ReadRange(context.Background(), tc.from, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		var gotIdx []int
		for _, r := range got {
			gotIdx = append(gotIdx, int(r.Seq))
			if r.Event.ID != evs[r.Seq].ID {
				t.Errorf("seq %d holds %s, want %s", r.Seq, r.Event.ID, evs[r.Seq].ID)
			}
		}
		if d := cmp.Diff(tc.want, gotIdx); d != "" {
			t.Errorf("ReadRange(%d, %d) seqs (-want +got):\n%s", tc.from, tc.n, d)
		}
	}
}

// checkTree recomputes every leaf from the stored records (salt, stored
// bytes, seq, receive time, id) and checks that the store's tree hashes give
// the same root at every size.
func checkTree(t *testing.T, s store.Store, origin string) {
	t.Helper()
	ctx := context.Background()
	size, _ := s.Size(ctx)
	recs, err := s.ReadRange(ctx, 0, int(size))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tlog.NewBuilder(0, nil)
	reader := sumtlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, idx) })
	for _, r := range recs {
		id, _ := event.IDBytes(r.Event.ID)
		if len(r.Salt) != 32 {
			t.Fatalf("seq %d: salt of %d bytes, want 32", r.Seq, len(r.Salt))
		}
		if again, _ := event.AppendBinary(nil, r.Event); string(again) != string(r.Stored) {
			t.Fatalf("seq %d: Stored is not the encoding of the event", r.Seq)
		}
		leaf := tlog.EventLeaf(origin, r.Seq, r.Event.ReceiveTime.UnixNano(), id, r.Salt, r.Stored)
		if _, _, err := b.Append(tlog.LeafHash(leaf.Marshal())); err != nil {
			t.Fatal(err)
		}
		want, _ := b.Root()
		got, err := sumtlog.TreeHash(int64(r.Seq)+1, reader)
		if err != nil || got != want {
			t.Fatalf("tree of size %d: store root %x (%v), recomputed from the records %x", r.Seq+1, got, err, want)
		}
	}
}

func testTree(t *testing.T, h Harness) {
	s := h.New(t)
	for call := range 6 {
		var evs []*event.Event
		for range call*3 + 1 {
			evs = append(evs, NewEvent(t, base))
		}
		mustAppend(t, s, evs...)
	}
	// Duplicates take no place in the tree.
	again := NewEvent(t, base)
	mustAppend(t, s, again, again, NewEvent(t, base))
	checkTree(t, s, h.Origin)
	s = h.Reopen(t, s)
	for range 5 {
		mustAppend(t, s, NewEvent(t, base), NewEvent(t, base), NewEvent(t, base))
	}
	checkTree(t, s, h.Origin)
	if _, err := s.ReadHashes(context.Background(), []int64{1 << 40}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadHashes of a missing index: %v, want ErrNotFound", err)
	}
}

func testCheckpoints(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if n, note, err := s.LatestCheckpoint(ctx); err != nil || note != nil || n != 0 {
		t.Errorf("LatestCheckpoint of a new store: %d %q %v, want none", n, note, err)
	}
	for _, n := range []uint64{1, 5, 300, 7} {
		if err := s.PutCheckpoint(ctx, n, []byte(fmt.Sprint("note ", n))); err != nil {
			t.Fatal(err)
		}
	}
	if n, note, err := s.LatestCheckpoint(ctx); err != nil || n != 300 || string(note) != "note 300" {
		t.Errorf("LatestCheckpoint = %d %q %v, want 300", n, note, err)
	}
	if note, err := s.Checkpoint(ctx, 5); err != nil || string(note) != "note 5" {
		t.Errorf("Checkpoint(5) = %q %v", note, err)
	}
	if _, err := s.Checkpoint(ctx, 6); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Checkpoint(6): %v, want ErrNotFound", err)
	}
	list, err := s.Checkpoints(ctx, 5, 2)
	if err != nil || len(list) != 2 || list[0].Size != 5 || list[1].Size != 7 {
		t.Errorf("Checkpoints(5, 2) = %+v %v, want sizes 5 and 7", list, err)
	}
	s = h.Reopen(t, s)
	if n, _, err := s.LatestCheckpoint(ctx); err != nil || n != 300 {
		t.Errorf("after reopen: latest %d %v", n, err)
	}
}
