package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/export/s3test"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/store/storetest"
	"github.com/audittrail/audittrail/internal/tlog"
)

// testLog is a real embedded store with a checkpointer.
type testLog struct {
	*pebble.Store
	cp       *tlog.Checkpointer
	signer   note.Signer
	verifier note.Verifier
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey("test.example/audittrail/export")
	if err != nil {
		t.Fatal(err)
	}
	opts := pebble.DefaultOptions()
	opts.Origin = "test.example/audittrail/export"
	st, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cp, err := tlog.NewCheckpointer(st, skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	return &testLog{Store: st, cp: cp, signer: signer, verifier: verifier}
}

// add appends n events and signs a checkpoint of the new size.
func (l *testLog) add(t testing.TB, n int) {
	t.Helper()
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = storetest.NewEvent(t, time.Now().Add(-time.Duration(i)*time.Hour))
	}
	if _, err := l.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := l.cp.Sign(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func fastOptions(name string) Options {
	o := DefaultOptions()
	o.Name, o.MaxEvents, o.MaxAge, o.PollInterval, o.MinBackoff, o.MaxBackoff = name, 7, 50*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond, 20*time.Millisecond
	o.TickInterval = 30 * time.Millisecond
	return o
}

// runUntil runs the sink until its cursor reaches size, then stops it
// (which writes the final digest).
func runUntil(t *testing.T, l *testLog, sink Sink, opts Options, size uint64) *Runner {
	t.Helper()
	r, err := NewRunner(l, sink, NewMetrics(nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, 5*time.Second); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for r.Status().Next < size {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("sink stuck at %d of %d: %s", r.Status().Next, size, r.Status().LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	return r
}

// faultyTransport fails the next requests on demand: unavailable answers
// 503 without forwarding; dropAcks forwards PUTs and then loses the answer,
// as a network failure after the server stored the object would.
type faultyTransport struct {
	next        http.RoundTripper
	unavailable atomic.Int32
	dropAcks    atomic.Int32
	puts        atomic.Int32
	conflicts   atomic.Int32 // PUTs answered 412: If-None-Match found the object
}

func (f *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.unavailable.Load() > 0 {
		f.unavailable.Add(-1)
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Header: http.Header{},
			Body: http.NoBody, Request: req}, nil
	}
	resp, err := f.next.RoundTrip(req)
	if req.Method == http.MethodPut && err == nil {
		f.puts.Add(1)
		if resp.StatusCode == http.StatusPreconditionFailed {
			f.conflicts.Add(1)
		}
		if f.dropAcks.Load() > 0 {
			f.dropAcks.Add(-1)
			resp.Body.Close()
			return nil, errors.New("connection reset (injected: the object was stored, the answer lost)")
		}
	}
	return resp, err
}

// bucketBackends are the S3 servers the object sinks are tested on: gofakes3
// in-process and versitygw, a real S3 server process.
var bucketBackends = []struct {
	name string
	open func(t *testing.T, bucket string) (*faultyTransport, *S3)
}{
	{"gofakes3", func(t *testing.T, bucket string) (*faultyTransport, *S3) {
		srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		t.Cleanup(srv.Close)
		return newFaultyBucket(t, S3Config{Bucket: bucket, Endpoint: srv.URL, AccessKeyID: "k", SecretAccessKey: "s"})
	}},
	{"versitygw", func(t *testing.T, bucket string) (*faultyTransport, *S3) {
		gw := s3test.New(t)
		gw.Start()
		return newFaultyBucket(t, S3Config{Bucket: bucket, Endpoint: gw.URL(), AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey})
	}},
}

func newFaultyBucket(t *testing.T, cfg S3Config) (*faultyTransport, *S3) {
	t.Helper()
	f := &faultyTransport{next: http.DefaultTransport}
	cfg.PathStyle, cfg.HTTPClient = true, &http.Client{Transport: f}
	b, err := NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	return f, b
}

func TestArchiveSinkDeliversEveryEventOnce(t *testing.T) {
	for _, be := range bucketBackends {
		for _, tc := range []struct {
			name   string
			faults func(*faultyTransport)
		}{
			{"healthy", func(*faultyTransport) {}},
			{"s3 answers 503 for a while", func(f *faultyTransport) { f.unavailable.Store(12) }},
			{"acknowledgements lost", func(f *faultyTransport) { f.dropAcks.Store(4) }},
		} {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				l := newTestLog(t)
				l.add(t, 30)
				faults, bucket := be.open(t, "audit")
				tc.faults(faults)
				runUntil(t, l, NewArchiveSink(bucket, l, l.signer, "archive"), fastOptions("archive"), 30)
				l.add(t, 11)
				faults.dropAcks.Store(2)
				runUntil(t, l, NewArchiveSink(bucket, l, l.signer, "archive"), fastOptions("archive"), 41)
				// Every lost acknowledgement is retried into a 412, which the
				// sink resolves by comparing hashes.
				if faults.puts.Load() == 0 || faults.conflicts.Load() < 2 {
					t.Fatalf("%d PUTs, %d answered 412: the retries after lost acknowledgements did not meet the stored objects", faults.puts.Load(), faults.conflicts.Load())
				}
				rep, err := VerifyBucket(context.Background(), bucket, "archive", l.verifier)
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK(false) || rep.Events != 41 || rep.Checkpointed != 41 {
					t.Fatalf("verify: %s\n%s", rep.Summary(), strings.Join(rep.Problems, "\n"))
				}
				checkEachEventOnce(t, bucket, "archive/"+LogID(l.signer.Name()), 41)
			})
		}
	}
}

// checkEachEventOnce reads every events object and checks that seqs
// 0..n-1 each appear exactly once.
func checkEachEventOnce(t *testing.T, o Objects, base string, n int) {
	t.Helper()
	ctx := context.Background()
	keys, err := o.List(ctx, base+"/events/")
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, n)
	for _, k := range keys {
		body, err := o.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := DecodeEvents(body)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, l := range lines {
			if l.Seq >= uint64(n) {
				t.Fatalf("%s holds seq %d beyond the log", k, l.Seq)
			}
			seen[l.Seq]++
		}
	}
	for seq, c := range seen {
		if c != 1 {
			t.Fatalf("seq %d is in %d objects, want exactly 1 (objects %v)", seq, c, keys)
		}
	}
}

// A crash after the upload but before the cursor moved: the batch is
// delivered again from the pending range, finds its object, and moves on.
func TestArchiveRedeliveryAfterCrash(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 5)
	dir, _ := NewDir(t.TempDir())
	sink := NewArchiveSink(dir, l, l.signer, "")
	recs, _ := l.ReadRange(context.Background(), 0, 5)
	b := Batch{First: 0, Last: 4, Records: recs}
	st1, err := sink.Deliver(context.Background(), nil, b)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := sink.Deliver(context.Background(), nil, b)
	if err != nil || string(st1) != string(st2) {
		t.Fatalf("redelivery: %v, state %s vs %s", err, st2, st1)
	}
	// A different object under the same key is never overwritten.
	recs[2].Salt = make([]byte, 32)
	if _, err := sink.Deliver(context.Background(), nil, Batch{First: 0, Last: 4, Records: recs}); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("conflicting object: %v", err)
	}
}

func TestRunnerResumesPendingBatch(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 20)
	dir, _ := NewDir(t.TempDir())
	// A previous run planned seqs 0..12 as one batch and crashed.
	c := `{"next":0,"pending":{"first":0,"last":12},"delivered":0}`
	if err := l.PutSinkCursor(context.Background(), "a", []byte(c)); err != nil {
		t.Fatal(err)
	}
	runUntil(t, l, NewArchiveSink(dir, l, l.signer, ""), fastOptions("a"), 20)
	keys, _ := dir.List(context.Background(), LogID(l.signer.Name())+"/events/")
	if !strings.HasSuffix(keys[0], fmt.Sprintf("%020d-%020d.jsonl.gz", 0, 12)) {
		t.Fatalf("first object %s, want the pending range 0..12", keys[0])
	}
	rep, _ := VerifyBucket(context.Background(), dir, "", l.verifier)
	if !rep.OK(false) {
		t.Fatalf("%s\n%s", rep.Summary(), strings.Join(rep.Problems, "\n"))
	}
}

func TestRunnerFilterMovesCursorOverSkippedEvents(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 25)
	var got []store.Record
	sink := sinkFunc(func(_ context.Context, st []byte, b Batch) ([]byte, error) {
		got = append(got, b.Records...)
		return st, nil
	})
	o := fastOptions("odd")
	o.Filter = func(e *event.Event) bool { return e.ID[len(e.ID)-1]%2 == 1 }
	r := runUntil(t, l, sink, o, 25)
	all, _ := l.ReadRange(context.Background(), 0, 25)
	want := 0
	for _, rec := range all {
		if o.Filter(rec.Event) {
			want++
		}
	}
	if len(got) != want || r.Status().Delivered != uint64(want) || r.Status().Next != 25 {
		t.Fatalf("delivered %d (status %+v), want %d of 25", len(got), r.Status(), want)
	}
}

type sinkFunc func(context.Context, []byte, Batch) ([]byte, error)

func (f sinkFunc) Deliver(ctx context.Context, st []byte, b Batch) ([]byte, error) {
	return f(ctx, st, b)
}

func TestOptionsValidate(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"no name":       func(o *Options) { o.Name = "" },
		"zero events":   func(o *Options) { o.MaxEvents = 0 },
		"tiny bytes":    func(o *Options) { o.MaxBytes = 10 },
		"no age":        func(o *Options) { o.MaxAge = 0 },
		"backoff order": func(o *Options) { o.MaxBackoff = o.MinBackoff / 2 },
	} {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			o.Name = "s"
			mod(&o)
			if err := o.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

// The hand-spelt lines are exactly what encoding/json writes for
// ArchiveLine, which DecodeEvents and third-party readers parse.
func TestEncodeEventsMatchesJSON(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 20)
	recs, _ := l.ReadRange(context.Background(), 0, 20)
	body, err := encodeEvents(recs)
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(body))
	got, _ := io.ReadAll(zr)
	var want bytes.Buffer
	for _, r := range recs {
		json.NewEncoder(&want).Encode(ArchiveLine{Seq: r.Seq, Salt: r.Salt, Stored: r.Stored})
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("lines differ from encoding/json:\n%s\n%s", got, want.Bytes())
	}
}
