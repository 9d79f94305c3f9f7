// Package tlog is the integrity log of the audit trail: the leaf that commits
// to one stored event, the RFC 6962 Merkle tree over leaves in sequence
// order (golang.org/x/mod/sumdb/tlog's stored-hash layout), and signed
// checkpoints. It knows nothing of stores or transports: stores call Builder
// in the same write as the events, and verifiers use the same functions
// offline. docs/INTEGRITY.md specifies every format byte by byte.
package tlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// LeafDomain starts every leaf; the version changes if the layout does.
const LeafDomain = "audittrail/leaf/v1\n"

// MaxOriginLen bounds the log's origin name.
const MaxOriginLen = 255

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("tlog: malformed")

// Leaf is what the log commits to for one event.
type Leaf struct {
	Origin      string   // the log's origin name
	Seq         uint64   // the event's sequence number, its index in the tree
	ReceiveTime int64    // Unix nanoseconds
	ID          [16]byte // the event id
	Commitment  [32]byte // Commit(salt, stored event bytes)
}

// Commit returns SHA-256(salt ‖ stored): the leaf's commitment to the exact
// stored bytes of an event. The per-event random salt keeps the commitment
// from revealing anything about the event to whoever sees only proofs.
func Commit(salt, stored []byte) [32]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(stored)
	var c [32]byte
	h.Sum(c[:0])
	return c
}

// Marshal returns the leaf bytes:
//
//	LeafDomain ‖ uint8 len(origin) ‖ origin ‖ uint64 seq ‖ int64 receive_time_ns
//	‖ id[16] ‖ commitment[32]     (integers big-endian)
func (l *Leaf) Marshal() []byte {
	b := make([]byte, 0, len(LeafDomain)+1+len(l.Origin)+8+8+16+32)
	b = append(b, LeafDomain...)
	b = append(b, byte(len(l.Origin)))
	b = append(b, l.Origin...)
	b = binary.BigEndian.AppendUint64(b, l.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(l.ReceiveTime))
	b = append(b, l.ID[:]...)
	return append(b, l.Commitment[:]...)
}

// ParseLeaf parses leaf bytes made by Marshal.
func ParseLeaf(b []byte) (*Leaf, error) {
	rest, ok := cutPrefix(b, LeafDomain)
	if !ok || len(rest) < 1 {
		return nil, fmt.Errorf("%w leaf: missing %q domain", ErrMalformed, LeafDomain)
	}
	n := int(rest[0])
	rest = rest[1:]
	if len(rest) != n+8+8+16+32 {
		return nil, fmt.Errorf("%w leaf: %d bytes after the origin length, want %d", ErrMalformed, len(rest), n+64)
	}
	l := &Leaf{Origin: string(rest[:n])}
	rest = rest[n:]
	l.Seq = binary.BigEndian.Uint64(rest)
	l.ReceiveTime = int64(binary.BigEndian.Uint64(rest[8:]))
	copy(l.ID[:], rest[16:32])
	copy(l.Commitment[:], rest[32:64])
	return l, nil
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return nil, false
	}
	return b[len(p):], true
}

// EventLeaf returns the leaf of the event stored at seq.
func EventLeaf(origin string, seq uint64, receiveTimeNs int64, id [16]byte, salt, stored []byte) *Leaf {
	return &Leaf{Origin: origin, Seq: seq, ReceiveTime: receiveTimeNs, ID: id, Commitment: Commit(salt, stored)}
}

// LeafHash is the RFC 6962 leaf hash, SHA-256(0x00 ‖ leaf).
func LeafHash(leaf []byte) sumtlog.Hash { return sumtlog.RecordHash(leaf) }

// ValidOrigin reports whether s can be a log origin: 1 to 255 bytes of
// printable ASCII without spaces, as a checkpoint's first line and a note key
// name allow.
func ValidOrigin(s string) error {
	if s == "" || len(s) > MaxOriginLen {
		return fmt.Errorf("tlog: origin must be 1-%d bytes", MaxOriginLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == '+' {
			return fmt.Errorf("tlog: origin %q must be printable ASCII without spaces or '+'", s)
		}
	}
	return nil
}
