package tlog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// ErrInconsistent reports a tree that does not extend the last signed
// checkpoint. It is never signed.
var ErrInconsistent = errors.New("tlog: tree is not consistent with the last signed checkpoint")

// InconsistencyError carries the evidence of an inconsistency: both
// checkpoints and the proof that failed.
type InconsistencyError struct {
	Old, New Checkpoint
	Proof    []Hash
	Err      error
}

func (e *InconsistencyError) Error() string {
	return fmt.Sprintf("tlog: tree of size %d (root %x) does not extend checkpoint of size %d (root %x): %v",
		e.New.Size, e.New.Root[:], e.Old.Size, e.Old.Root[:], e.Err)
}

// Unwrap makes the error match ErrInconsistent.
func (e *InconsistencyError) Unwrap() error { return ErrInconsistent }

// Checkpoint is a parsed, signature-checked checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   Hash
	Time   time.Time // from the "time" extension line; zero if absent
	Signed []byte    // the whole signed note
}

// GenerateKey returns a new ed25519 signed-note key pair named origin.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	if err := ValidOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

// CheckpointBody returns the C2SP tlog-checkpoint body for a tree, with one
// extension line "time <RFC 3339>" recording when it was signed.
func CheckpointBody(origin string, size uint64, root Hash, at time.Time) []byte {
	b := log.Checkpoint{Origin: origin, Size: size, Hash: root[:]}.Marshal()
	return append(b, "time "+at.UTC().Format(time.RFC3339Nano)+"\n"...)
}

// ParseCheckpoint verifies a signed checkpoint note with the log's
// verifier and parses it. The origin must be the verifier's name.
func ParseCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	cp, ext, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: checkpoint: %w", err)
	}
	if len(cp.Hash) != len(Hash{}) {
		return Checkpoint{}, fmt.Errorf("%w checkpoint: root of %d bytes", ErrMalformed, len(cp.Hash))
	}
	c := Checkpoint{Origin: cp.Origin, Size: cp.Size, Signed: signed}
	copy(c.Root[:], cp.Hash)
	for _, line := range strings.Split(strings.TrimSuffix(string(ext), "\n"), "\n") {
		if t, ok := strings.CutPrefix(line, "time "); ok {
			if c.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
				return Checkpoint{}, fmt.Errorf("%w checkpoint: time line %q", ErrMalformed, line)
			}
		}
	}
	return c, nil
}

// CheckpointStore is what the checkpointer needs of a store.
// LatestCheckpoint returns a nil note when none was kept yet.
type CheckpointStore interface {
	Size(ctx context.Context) (uint64, error)
	ReadHashes(ctx context.Context, indexes []int64) ([]Hash, error)
	PutCheckpoint(ctx context.Context, size uint64, signed []byte) error
	LatestCheckpoint(ctx context.Context) (uint64, []byte, error)
}

// SigningLease is implemented by stores that several servers share: only
// the holder of the lease signs, and the others adopt the checkpoints it
// stores, so one replica signs at a time.
type SigningLease interface {
	HoldSigningLease(ctx context.Context) (bool, error)
}

// CheckpointerOptions configure a Checkpointer. Start from
// DefaultCheckpointerOptions.
type CheckpointerOptions struct {
	// Interval is how often the tree is looked at; a checkpoint is signed
	// at most once per interval, and only when the size changed.
	Interval time.Duration
	// Heartbeat re-signs an unchanged tree this often, so monitors can
	// tell a quiet log from a stalled one.
	Heartbeat time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Registerer, when set, receives the checkpointer's metrics.
	Registerer prometheus.Registerer
}

// DefaultCheckpointerOptions signs at most once a second and heartbeats
// every 5 minutes.
func DefaultCheckpointerOptions() CheckpointerOptions {
	return CheckpointerOptions{Interval: time.Second, Heartbeat: 5 * time.Minute, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
}

// Checkpointer signs checkpoints of a store's tree. Before signing it proves
// that the tree extends the previous signed checkpoint, and refuses to sign
// otherwise.
type Checkpointer struct {
	st       CheckpointStore
	signer   note.Signer
	verifier note.Verifier
	vkey     string
	opts     CheckpointerOptions

	mu      sync.Mutex
	latest  Checkpoint
	changed chan struct{} // closed and replaced when latest changes

	size, signedAt    prometheus.Gauge
	failures, refused prometheus.Counter
}

// NewCheckpointer returns a checkpointer that signs with signerKey (a
// signed-note private key whose name is the log origin).
func NewCheckpointer(st CheckpointStore, signerKey string, opts CheckpointerOptions) (*Checkpointer, error) {
	if opts.Interval <= 0 || opts.Heartbeat <= 0 || opts.Now == nil || opts.Logger == nil {
		return nil, errors.New("tlog: checkpointer: interval, heartbeat, clock and logger are required")
	}
	signer, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("tlog: signing key: %w", err)
	}
	vkey, err := verifierKeyOf(signerKey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("tlog: verifier key: %w", err)
	}
	c := &Checkpointer{st: st, signer: signer, verifier: verifier, vkey: vkey, opts: opts, changed: make(chan struct{}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audittrail_log_checkpoint_size",
			Help: "Tree size of the latest signed checkpoint.",
		}),
		signedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audittrail_log_checkpoint_timestamp_seconds",
			Help: "When the latest checkpoint was signed (alert when older than the heartbeat).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audittrail_log_sign_failures_total",
			Help: "Checkpoint signing attempts that failed, refusals included.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audittrail_log_inconsistencies_total",
			Help: "Times the tree did not extend the last signed checkpoint and signing was refused.",
		}),
	}
	if opts.Registerer != nil {
		for _, m := range []prometheus.Collector{c.size, c.signedAt, c.failures, c.refused} {
			if err := opts.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("tlog: register metrics: %w", err)
			}
		}
	}
	_, signed, err := st.LatestCheckpoint(context.Background())
	if err != nil {
		return nil, err
	}
	if signed != nil {
		if c.latest, err = ParseCheckpoint(signed, verifier); err != nil {
			return nil, fmt.Errorf("tlog: the latest stored checkpoint does not verify with this key: %w", err)
		}
		c.observe(c.latest)
	}
	return c, nil
}

// verifierKeyOf derives the verifier key of an ed25519 signed-note private
// key, PRIVATE+KEY+<name>+<hash>+base64(0x01 ‖ seed[32]).
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", fmt.Errorf("%w signing key: not a signed-note private key", ErrMalformed)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", fmt.Errorf("%w signing key: not an ed25519 key", ErrMalformed)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

func (c *Checkpointer) observe(cp Checkpoint) {
	c.size.Set(float64(cp.Size))
	c.signedAt.Set(float64(cp.Time.UnixNano()) / 1e9)
}

// Origin is the log's origin name.
func (c *Checkpointer) Origin() string { return c.signer.Name() }

// VerifierKey is the log's public key as a signed-note verifier key.
func (c *Checkpointer) VerifierKey() string { return c.vkey }

// Verifier checks the log's signatures.
func (c *Checkpointer) Verifier() note.Verifier { return c.verifier }

// Latest returns the newest signed checkpoint (Size 0 before the first).
func (c *Checkpointer) Latest() Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}

// Run signs checkpoints until ctx is done.
func (c *Checkpointer) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if err := c.Sign(ctx); err != nil && ctx.Err() == nil {
			c.failures.Inc()
			if errors.Is(err, ErrInconsistent) {
				c.refused.Inc()
			}
			c.opts.Logger.Error("tlog: checkpoint not signed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sign signs a checkpoint of the current tree if its size changed since the
// last one or the heartbeat is due. It refuses to sign a tree that does not
// extend the last signed checkpoint, returning an *InconsistencyError.
func (c *Checkpointer) Sign(ctx context.Context) error {
	if l, ok := c.st.(SigningLease); ok {
		held, err := l.HoldSigningLease(ctx)
		if err != nil {
			return err
		}
		// Followers and a new leader both start from what is stored.
		if err := c.adopt(ctx); err != nil || !held {
			return err
		}
	}
	size, err := c.st.Size(ctx)
	if err != nil {
		return err
	}
	last := c.Latest()
	now := c.opts.Now()
	if last.Signed != nil && size == last.Size && now.Sub(last.Time) < c.opts.Heartbeat {
		return nil
	}
	reader := sumtlog.HashReaderFunc(func(idx []int64) ([]Hash, error) { return c.st.ReadHashes(ctx, idx) })
	root, err := sumtlog.TreeHash(int64(size), reader)
	if err != nil {
		return fmt.Errorf("tlog: tree hash of size %d: %w", size, err)
	}
	if last.Signed != nil {
		newer := Checkpoint{Origin: c.Origin(), Size: size, Root: root}
		if size < last.Size {
			return &InconsistencyError{Old: last, New: newer, Err: errors.New("the tree shrank")}
		}
		var proof sumtlog.TreeProof
		if size > last.Size && last.Size > 0 {
			if proof, err = sumtlog.ProveTree(int64(size), int64(last.Size), reader); err != nil {
				return fmt.Errorf("tlog: consistency proof %d→%d: %w", last.Size, size, err)
			}
		}
		if err := checkConsistency(proof, size, root, last.Size, last.Root); err != nil {
			return &InconsistencyError{Old: last, New: newer, Proof: proof, Err: err}
		}
	}
	signed, err := note.Sign(&note.Note{Text: string(CheckpointBody(c.Origin(), size, root, now))}, c.signer)
	if err != nil {
		return fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	if err := c.st.PutCheckpoint(ctx, size, signed); err != nil {
		return err
	}
	cp, err := ParseCheckpoint(signed, c.verifier)
	if err != nil {
		return err
	}
	c.setLatest(cp)
	return nil
}

func (c *Checkpointer) setLatest(cp Checkpoint) {
	c.observe(cp)
	c.mu.Lock()
	c.latest = cp
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// adopt takes the newest stored checkpoint when another server signed a
// larger tree than this one knows.
func (c *Checkpointer) adopt(ctx context.Context) error {
	size, signed, err := c.st.LatestCheckpoint(ctx)
	if err != nil || signed == nil {
		return err
	}
	if last := c.Latest(); last.Signed != nil && size <= last.Size {
		return nil
	}
	cp, err := ParseCheckpoint(signed, c.verifier)
	if err != nil {
		return fmt.Errorf("tlog: stored checkpoint of size %d: %w", size, err)
	}
	c.setLatest(cp)
	return nil
}

// checkConsistency checks that a tree (size, root) extends (oldSize,
// oldRoot), including the degenerate cases sumdb's CheckTree does not take.
func checkConsistency(proof sumtlog.TreeProof, size uint64, root Hash, oldSize uint64, oldRoot Hash) error {
	switch {
	case oldSize == 0:
		return nil
	case oldSize == size:
		if root != oldRoot {
			return errors.New("same size, different root")
		}
		return nil
	}
	return sumtlog.CheckTree(proof, int64(size), root, int64(oldSize), oldRoot)
}

// WaitFor returns once a signed checkpoint covers at least size records, or
// when ctx is done.
func (c *Checkpointer) WaitFor(ctx context.Context, size uint64) error {
	for {
		c.mu.Lock()
		ok, ch := c.latest.Signed != nil && c.latest.Size >= size, c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
