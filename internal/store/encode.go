package store

import (
	"crypto/rand"
	"fmt"

	"github.com/audittrail/audittrail/internal/event"
)

// SaltLen is the size of an event's random salt in its leaf commitment.
const SaltLen = 32

// Encoded is a batch of events prepared for writing: binary ids, stored
// encodings (event.AppendBinary, receive time still unset) and fresh salts.
// Backends build it in the caller's goroutine, so concurrent requests
// encode in parallel and a store's single writer only stamps and writes.
type Encoded struct {
	IDs   [][16]byte
	Bytes [][]byte
	Salts []byte // SaltLen bytes per event
}

// Encode prepares events, which must be normalised.
func Encode(events []*event.Event) (*Encoded, error) {
	enc := &Encoded{IDs: make([][16]byte, len(events)), Bytes: make([][]byte, len(events)), Salts: make([]byte, SaltLen*len(events))}
	if _, err := rand.Read(enc.Salts); err != nil {
		return nil, fmt.Errorf("store: salts: %w", err)
	}
	for i, e := range events {
		id, err := event.IDBytes(e.ID)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		enc.IDs[i] = id
		if enc.Bytes[i], err = event.AppendBinary(nil, e); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return enc, nil
}

// Salt is event i's salt.
func (e *Encoded) Salt(i int) []byte { return e.Salts[i*SaltLen : (i+1)*SaltLen] }
