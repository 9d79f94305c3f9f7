package tlog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
)

// ErrVerify is wrapped by every verification failure.
var ErrVerify = errors.New("verification failed")

// EventEvidence is what GetEventProof returns for one event.
type EventEvidence struct {
	Stored     []byte   // exact stored event bytes
	Salt       []byte   // 32-byte salt
	Seq        uint64   // leaf index
	Leaf       []byte   // leaf bytes as the server computed them
	Proof      [][]byte // inclusion proof against Checkpoint
	Checkpoint []byte   // signed checkpoint note
}

// VerifyEvent checks evidence for one event with the log's verifier, using
// nothing the server computed that it could fake: the checkpoint's
// signature, the leaf recomputed from the stored bytes and salt, and the
// inclusion of that leaf in the signed tree. It returns the decoded event
// and the checkpoint.
func VerifyEvent(v note.Verifier, ev EventEvidence) (*event.Event, Checkpoint, error) {
	cp, err := ParseCheckpoint(ev.Checkpoint, v)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrVerify, err)
	}
	e, err := event.UnmarshalBinary(ev.Stored)
	if err != nil {
		return nil, cp, fmt.Errorf("%w: stored event bytes: %w", ErrVerify, err)
	}
	if len(ev.Salt) != 32 {
		return nil, cp, fmt.Errorf("%w: salt of %d bytes, want 32", ErrVerify, len(ev.Salt))
	}
	id, _ := event.IDBytes(e.ID)
	leaf := EventLeaf(cp.Origin, ev.Seq, e.ReceiveTime.UnixNano(), id, ev.Salt, ev.Stored).Marshal()
	if ev.Leaf != nil && !bytes.Equal(leaf, ev.Leaf) {
		return e, cp, fmt.Errorf("%w: event %s: the leaf does not commit to the stored event bytes", ErrVerify, e.ID)
	}
	if ev.Seq >= cp.Size {
		return e, cp, fmt.Errorf("%w: event %s at seq %d is not covered by the checkpoint of size %d", ErrVerify, e.ID, ev.Seq, cp.Size)
	}
	lh := LeafHash(leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ev.Seq, cp.Size, lh[:], ev.Proof, cp.Root[:]); err != nil {
		return e, cp, fmt.Errorf("%w: event %s (seq %d) is not included in the signed tree of size %d: %w", ErrVerify, e.ID, ev.Seq, cp.Size, err)
	}
	return e, cp, nil
}

// VerifyConsistency checks that the signed checkpoint newer extends older.
func VerifyConsistency(older, newer Checkpoint, consistency [][]byte) error {
	if newer.Size < older.Size {
		return fmt.Errorf("%w: the log shrank from %d to %d", ErrVerify, older.Size, newer.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, consistency, older.Root[:], newer.Root[:]); err != nil {
		return fmt.Errorf("%w: checkpoint of size %d (root %x) does not extend the one of size %d (root %x): %w",
			ErrVerify, newer.Size, newer.Root[:], older.Size, older.Root[:], err)
	}
	return nil
}
