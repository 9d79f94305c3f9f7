package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/tlog"
)

// BucketReport is the outcome of verifying an archive in a bucket.
type BucketReport struct {
	Digests, Objects, Events int
	// Checkpointed counts events whose leaves a verified signed checkpoint
	// covers; the rest are covered only by the digests' signatures.
	Checkpointed int
	// Checkpoints counts verified checkpoints (one per digest at most).
	Checkpoints int
	// Undigested names objects that no digest lists.
	Undigested []string
	// Problems names each bad digest, object or event and why.
	Problems []string
}

// OK reports whether everything verified; undigested objects count as
// failures unless allowUndigested (objects written since the last digest
// of a running sink are undigested until the next one).
func (r *BucketReport) OK(allowUndigested bool) bool {
	return len(r.Problems) == 0 && (allowUndigested || len(r.Undigested) == 0)
}

// Summary is one line for the CLI.
func (r *BucketReport) Summary() string {
	return fmt.Sprintf("%d digests, %d objects, %d events (%d under %d signed checkpoints, %d under digest signatures only), %d undigested objects, %d problems",
		r.Digests, r.Objects, r.Events, r.Checkpointed, r.Checkpoints, r.Events-r.Checkpointed, len(r.Undigested), len(r.Problems))
}

func (r *BucketReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// VerifyBucket checks the archive that an ArchiveSink wrote under prefix,
// offline but for reading the objects, with the log's verifier only: the
// digest chain (every signature, numbers, previous links), every listed
// object (present, its SHA-256, its seq range contiguous from 0, each
// line's seq), every event's leaf recomputed from its stored bytes and
// salt, the tree root at every digest's checkpoint, and receive-time order.
// It names every object that is edited, missing, out of place, or added.
// Only unreadable objects (I/O) are errors.
func VerifyBucket(ctx context.Context, objs Objects, prefix string, v note.Verifier) (*BucketReport, error) {
	base := joinKey(prefix, LogID(v.Name()))
	r := &BucketReport{}
	digestKeys, err := objs.List(ctx, joinKey(base, "digests")+"/")
	if err != nil {
		return nil, err
	}
	eventKeys, err := objs.List(ctx, joinKey(base, "events")+"/")
	if err != nil {
		return nil, err
	}
	if len(digestKeys) == 0 && len(eventKeys) == 0 {
		r.problem("no archive of log %s (log id %s) under %q", v.Name(), LogID(v.Name()), base)
		return r, nil
	}

	// The digest chain, in number order.
	type digestAt struct {
		key string
		d   *Digest
		cp  *tlog.Checkpoint
	}
	var chain []digestAt
	prevKey, prevSum := "", ""
	rel := func(full string) string { return strings.TrimPrefix(full, base+"/") }
	for i, key := range digestKeys {
		r.Digests++
		b, err := objs.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		d, err := ParseDigest(b, v)
		if err != nil {
			r.problem("digest %s: %v (edited or not signed by this log)", key, err)
			prevKey, prevSum = rel(key), sha256Hex(b)
			continue
		}
		if want := DigestKey(i + 1); rel(key) != want || d.Number != i+1 {
			r.problem("digest %s: is number %d, expected %s there (a digest was deleted, added or renamed)", key, d.Number, joinKey(base, want))
		}
		if d.PrevKey != prevKey || d.PrevSHA256 != prevSum {
			r.problem("digest %s: its previous link (%s) is not the digest before it (%s %s): the chain is broken", key, orNone(d.PrevKey+" "+d.PrevSHA256), orNone(prevKey), prevSum)
		}
		prevKey, prevSum = rel(key), sha256Hex(b)
		at := digestAt{key: key, d: d}
		if d.Checkpoint != nil {
			cp, err := tlog.ParseCheckpoint(d.Checkpoint, v)
			if err != nil {
				r.problem("digest %s: its checkpoint: %v", key, err)
			} else {
				at.cp = &cp
			}
		}
		chain = append(chain, at)
	}

	// The objects the chain lists, in seq order, each checked in turn; each
	// digest's checkpoint is checked when the tree reaches its size.
	vr := &bucketVerifier{objs: objs, v: v, r: r}
	vr.b, _ = tlog.NewBuilder(0, nil)
	for _, at := range chain {
		if at.cp != nil {
			vr.cps = append(vr.cps, cpAt{digest: at.key, cp: *at.cp})
		}
	}
	listed := map[string]bool{}
	next := uint64(0)
	for _, at := range chain {
		for _, o := range at.d.Objects {
			r.Objects++
			o.Key = joinKey(base, o.Key) // digests list keys relative to base
			listed[o.Key] = true
			if o.First != next {
				r.problem("object %s: digest %s lists seqs %d..%d, but the previous object ended before seq %d (objects missing, reordered or overlapping)", o.Key, at.key, o.First, o.Last, next)
			}
			if err := vr.object(ctx, o); err != nil {
				return nil, err
			}
			next = o.Last + 1
		}
	}
	for _, c := range vr.cps[vr.ci:] {
		r.problem("digest %s: its checkpoint of size %d covers events beyond the %d archived", c.digest, c.cp.Size, vr.b.Size())
	}
	for _, k := range eventKeys {
		if !listed[k] {
			r.Undigested = append(r.Undigested, k)
		}
	}
	slices.Sort(r.Undigested)
	return r, nil
}

type cpAt struct {
	digest string
	cp     tlog.Checkpoint
}

// bucketVerifier rebuilds the tree from the archived events.
type bucketVerifier struct {
	objs     Objects
	v        note.Verifier
	r        *BucketReport
	b        *tlog.Builder
	cps      []cpAt // the digests' checkpoints, ascending
	ci       int    // next checkpoint to reach
	prevRecv int64
	pending  int // events that passed their own checks since the last checkpoint
}

// object checks one listed object and appends its events' leaves.
func (vr *bucketVerifier) object(ctx context.Context, o DigestEntry) error {
	r := vr.r
	body, err := vr.objs.Get(ctx, o.Key)
	if errors.Is(err, ErrObjectNotFound) {
		r.problem("object %s: listed in a digest but missing (deleted)", o.Key)
		vr.placeholders(o.Last - o.First + 1)
		return nil
	}
	if err != nil {
		return err
	}
	if h := sha256.Sum256(body); hex.EncodeToString(h[:]) != o.SHA256 {
		r.problem("object %s: SHA-256 %x differs from its digest's %s (edited or replaced)", o.Key, h, o.SHA256)
	}
	lines, err := DecodeEvents(body)
	if err != nil {
		r.problem("object %s: %v", o.Key, err)
		vr.placeholders(o.Last - o.First + 1)
		return nil
	}
	if uint64(len(lines)) != o.Last-o.First+1 {
		r.problem("object %s: holds %d events, its digest lists seqs %d..%d", o.Key, len(lines), o.First, o.Last)
	}
	for i, l := range lines {
		r.Events++
		seq := o.First + uint64(i)
		name := fmt.Sprintf("object %s: seq %d", o.Key, seq)
		if l.Seq != seq {
			r.problem("%s: line %d holds seq %d (events reordered)", name, i+1, l.Seq)
		}
		e, err := event.UnmarshalBinary(l.Stored)
		if err != nil || len(l.Salt) != 32 {
			r.problem("%s: stored bytes or salt do not decode (altered event)", name)
			vr.placeholders(1)
			continue
		}
		id, _ := event.IDBytes(e.ID)
		good := true
		if rt := e.ReceiveTime.UnixNano(); rt < vr.prevRecv {
			r.problem("%s: receive time before the previous event's (events out of order)", name)
			good = false
		} else {
			vr.prevRecv = rt
		}
		vr.add(tlog.LeafHash(tlog.EventLeaf(vr.v.Name(), seq, e.ReceiveTime.UnixNano(), id, l.Salt, l.Stored).Marshal()), good)
	}
	return nil
}

// placeholders keeps the tree's positions of n unreadable events, so that
// the checkpoints after them report the damage.
func (vr *bucketVerifier) placeholders(n uint64) {
	for range n {
		vr.add(tlog.Hash{}, false)
	}
}

func (vr *bucketVerifier) add(h tlog.Hash, good bool) {
	vr.b.Append(h)
	if good {
		vr.pending++
	}
	for vr.ci < len(vr.cps) && vr.cps[vr.ci].cp.Size <= uint64(vr.b.Size()) {
		c := vr.cps[vr.ci]
		vr.ci++
		if root, _ := vr.b.Root(); c.cp.Size != uint64(vr.b.Size()) || root != c.cp.Root {
			vr.r.problem("digest %s: the archived events do not give the root of its checkpoint of size %d: events before seq %d were altered, removed or reordered", c.digest, c.cp.Size, c.cp.Size)
			continue
		}
		vr.r.Checkpoints++
		vr.r.Checkpointed += vr.pending
		vr.pending = 0
	}
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}
