package tlog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/tlog"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newStore(t *testing.T, origin string) *pebble.Store {
	t.Helper()
	opts := pebble.DefaultOptions()
	opts.Origin, opts.CacheSize, opts.MemTableSize = origin, 8<<20, 4<<20
	s, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *pebble.Store, n int) {
	t.Helper()
	var evs []*event.Event
	for range n {
		e := &event.Event{ID: uuid.NewString(), EventTime: time.Unix(1e9, 0), EventSource: "s", Action: "a", HasStatus: true, Principal: "users/u", SourceIPAddress: "8.8.8.8"}
		if err := event.DefaultRules().Normalize(e, time.Now()); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if _, err := s.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointer(t *testing.T) {
	const origin = "example.com/audit"
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	verifier, _ := note.NewVerifier(vkey)
	s := newStore(t, origin)
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := tlog.DefaultCheckpointerOptions()
	opts.Now = clock.Now
	c, err := tlog.NewCheckpointer(s, skey, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifierKey() != vkey || c.Origin() != origin {
		t.Fatalf("verifier key %q origin %q", c.VerifierKey(), c.Origin())
	}
	ctx := context.Background()
	reader := sumtlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, idx) })

	appendN(t, s, 5)
	if err := c.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	cp := c.Latest()
	root, _ := sumtlog.TreeHash(5, reader)
	if cp.Size != 5 || cp.Root != root || cp.Origin != origin || !cp.Time.Equal(clock.t) {
		t.Fatalf("checkpoint %+v, want size 5 root %x", cp, root)
	}
	if _, err := tlog.ParseCheckpoint(cp.Signed, verifier); err != nil {
		t.Fatalf("signed checkpoint does not verify: %v", err)
	}

	t.Run("unchanged tree is not re-signed before the heartbeat", func(t *testing.T) {
		clock.t = clock.t.Add(time.Minute)
		c.Sign(ctx)
		if c.Latest().Time.Equal(clock.t) {
			t.Error("re-signed an unchanged tree after 1 minute")
		}
		clock.t = clock.t.Add(5 * time.Minute)
		c.Sign(ctx)
		if !c.Latest().Time.Equal(clock.t) {
			t.Error("no heartbeat after 6 minutes")
		}
	})
	t.Run("grows consistently and wakes waiters", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- c.WaitFor(ctx, 12) }()
		appendN(t, s, 7)
		if err := c.Sign(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitFor(12) did not return after a checkpoint of size 12")
		}
		if got, _ := s.Checkpoint(ctx, 5); got == nil {
			t.Error("earlier checkpoint not kept")
		}
	})
	t.Run("refuses to sign an inconsistent tree", func(t *testing.T) {
		// A checkpoint claiming another root for size 12, signed with the
		// log's own key, as after a rollback of the store.
		signer, _ := note.NewSigner(skey)
		forged, _ := note.Sign(&note.Note{Text: string(tlog.CheckpointBody(origin, 12, tlog.Hash{1}, clock.t))}, signer)
		if err := s.PutCheckpoint(ctx, 12, forged); err != nil {
			t.Fatal(err)
		}
		c2, err := tlog.NewCheckpointer(s, skey, opts)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 1)
		err = c2.Sign(ctx)
		var ie *tlog.InconsistencyError
		if !errors.As(err, &ie) || !errors.Is(err, tlog.ErrInconsistent) || ie.Old.Size != 12 || ie.New.Size != 13 {
			t.Fatalf("Sign over an inconsistent history: %v, want an InconsistencyError with both checkpoints", err)
		}
		if n, _, _ := s.LatestCheckpoint(ctx); n != 12 {
			t.Errorf("a checkpoint of size %d was signed despite the inconsistency", n)
		}
	})
	t.Run("another key does not verify stored checkpoints", func(t *testing.T) {
		other, _, _ := tlog.GenerateKey(origin)
		if _, err := tlog.NewCheckpointer(s, other, opts); err == nil {
			t.Error("a checkpointer with another key accepted the stored checkpoints")
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	skey, vkey, _ := tlog.GenerateKey("example.com/audit")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	good, _ := note.Sign(&note.Note{Text: string(tlog.CheckpointBody("example.com/audit", 3, tlog.Hash{9}, time.Unix(0, 0)))}, signer)
	f.Add(good)
	f.Add([]byte("example.com/audit\n3\nAAAA\n\n— example.com/audit x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := tlog.ParseCheckpoint(b, verifier)
		if err == nil && (cp.Origin != "example.com/audit" || string(cp.Signed) != string(b)) {
			t.Fatalf("accepted checkpoint %+v", cp)
		}
	})
}

func FuzzParseLeaf(f *testing.F) {
	f.Add(tlog.EventLeaf("o", 1, 2, [16]byte{3}, []byte("salt"), []byte("bytes")).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := tlog.ParseLeaf(b)
		if err == nil && string(l.Marshal()) != string(b) {
			t.Fatal("leaf re-marshals differently")
		}
	})
}

func TestVerifierKeyDerivation(t *testing.T) {
	// Base64 key material may contain '+', the field separator of keys.
	for range 64 {
		skey, vkey, err := tlog.GenerateKey("example.com/audit")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tlog.NewCheckpointer(newStore(t, "example.com/audit"), skey, tlog.DefaultCheckpointerOptions())
		if err != nil {
			t.Fatalf("key %q: %v", skey, err)
		}
		if c.VerifierKey() != vkey {
			t.Fatalf("derived %q, want %q", c.VerifierKey(), vkey)
		}
	}
}

// FuzzVerifyEvent feeds arbitrary evidence (stored bytes, salt, leaf, proof
// hashes, checkpoint) to the event verifier: it must never panic, and only
// the genuine evidence may verify.
func FuzzVerifyEvent(f *testing.F) {
	const origin = "example.com/audit"
	skey, vkey, _ := tlog.GenerateKey(origin)
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	e := &event.Event{ID: "6f1c2b9e-2f7a-4b1e-9c3d-0a1b2c3d4e5f", EventTime: time.Unix(1e9, 0), ReceiveTime: time.Unix(1e9, 5), EventSource: "s", Action: "a", HasStatus: true, Principal: "users/u", SourceIPAddress: "private", Type: event.TypeAPI}
	stored, _ := event.AppendBinary(nil, e)
	salt := make([]byte, 32)
	id, _ := event.IDBytes(e.ID)
	leaf := tlog.EventLeaf(origin, 0, e.ReceiveTime.UnixNano(), id, salt, stored).Marshal()
	root := tlog.LeafHash(leaf)
	cp, _ := note.Sign(&note.Note{Text: string(tlog.CheckpointBody(origin, 1, root, time.Unix(0, 0)))}, signer)
	genuine := func(st, sa, lf, pr, c []byte, seq uint64) bool {
		return string(st) == string(stored) && string(sa) == string(salt) && seq == 0 && len(pr) == 0 && string(c) == string(cp)
	}
	f.Add(stored, salt, leaf, []byte{}, cp, uint64(0))
	f.Add(stored, salt, leaf, make([]byte, 64), cp, uint64(1))
	f.Fuzz(func(t *testing.T, st, sa, lf, pr, c []byte, seq uint64) {
		var proof [][]byte
		for len(pr) >= 32 {
			proof, pr = append(proof, pr[:32]), pr[32:]
		}
		if len(pr) > 0 {
			proof = append(proof, pr)
		}
		_, _, err := tlog.VerifyEvent(verifier, tlog.EventEvidence{Stored: st, Salt: sa, Seq: seq, Leaf: lf, Proof: proof, Checkpoint: c})
		if err == nil && !genuine(st, sa, lf, flatten(proof), c, seq) {
			t.Fatalf("forged evidence verified")
		}
	})
}

func flatten(p [][]byte) []byte {
	var out []byte
	for _, h := range p {
		out = append(out, h...)
	}
	return out
}

// leased is a shared store as one replica sees it: it holds the signing
// lease or not.
type leased struct {
	*pebble.Store
	held bool
}

func (l *leased) HoldSigningLease(context.Context) (bool, error) { return l.held, nil }

func TestOnlyTheLeaseHolderSigns(t *testing.T) {
	const origin = "example.com/audit"
	skey, _, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, origin)
	leader, follower := &leased{Store: s, held: true}, &leased{Store: s}
	cl, err := tlog.NewCheckpointer(leader, skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := tlog.NewCheckpointer(follower, skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	appendN(t, s, 5)
	if err := cf.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	if n, signed, _ := s.LatestCheckpoint(ctx); signed != nil {
		t.Fatalf("the follower signed a checkpoint of size %d", n)
	}
	if err := cl.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cf.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cf.Latest(); got.Size != 5 {
		t.Fatalf("the follower did not adopt the leader's checkpoint: size %d", got.Size)
	}
	// The lease moves: the new leader continues from the stored checkpoint.
	leader.held, follower.held = false, true
	appendN(t, s, 3)
	if err := cf.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.LatestCheckpoint(ctx); n != 8 {
		t.Fatalf("new leader signed size %d, want 8", n)
	}
	if err := cl.Sign(ctx); err != nil || cl.Latest().Size != 8 {
		t.Fatalf("old leader: %v, latest %d; want it to follow at 8", err, cl.Latest().Size)
	}
}
