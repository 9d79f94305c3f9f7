package export

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/store"
)

// receiver verifies each POST as docs/EXPORT.md tells receivers to, fails
// the first `failures` deliveries, and records the seqs it accepted.
type receiver struct {
	secret   []byte
	mu       sync.Mutex
	failures int
	delay    time.Duration
	seqs     []uint64
	bad      int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get(HeaderTimestamp)
	want := Sign(rc.secret, ts, body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !hmac.Equal([]byte(r.Header.Get(HeaderSignature)), []byte(want)) {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.failures > 0 {
		rc.failures--
		http.Error(w, "down for a while", http.StatusServiceUnavailable)
		return
	}
	time.Sleep(rc.delay)
	var b struct {
		Events []struct{ Seq uint64 } `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range b.Events {
		rc.seqs = append(rc.seqs, e.Seq)
	}
}

func TestWebhookSinkAtLeastOnceInOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		delay    time.Duration
	}{
		{"healthy", 0, 0},
		{"receiver down for a while", 6, 0},
		{"slow receiver", 0, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t)
			l.add(t, 40)
			rc := &receiver{secret: []byte("0123456789abcdef-secret"), failures: tc.failures, delay: tc.delay}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			sink, err := NewWebhookSink(WebhookConfig{URL: srv.URL, Secret: rc.secret, Format: func(r store.Record) ([]byte, error) {
				return []byte(fmt.Sprintf(`{"id":%q,"seq":%d}`, r.Event.ID, r.Seq)), nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			runUntil(t, l, sink, fastOptions("hook"), 40)
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if rc.bad != 0 {
				t.Fatalf("%d deliveries failed the signature check", rc.bad)
			}
			// Every event arrived, in seq order (a redelivery may repeat a
			// batch, never reorder).
			next := uint64(0)
			for _, s := range rc.seqs {
				if s > next {
					t.Fatalf("seq %d arrived before %d: %v", s, next, rc.seqs)
				}
				if s == next {
					next++
				}
			}
			if next != 40 {
				t.Fatalf("received up to seq %d of 40: %v", next, rc.seqs)
			}
		})
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	f := func(store.Record) ([]byte, error) { return nil, nil }
	for name, c := range map[string]WebhookConfig{
		"no url":       {Secret: []byte("0123456789abcdef"), Format: f},
		"ftp":          {URL: "ftp://x", Secret: []byte("0123456789abcdef"), Format: f},
		"short secret": {URL: "https://x", Secret: []byte("short"), Format: f},
		"no format":    {URL: "https://x", Secret: []byte("0123456789abcdef")},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
