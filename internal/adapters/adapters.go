// Package adapters holds what the ingest adapters (internal/adapters/…)
// share: event ids derived from what identifies an item at its source, so
// that an item delivered twice is stored once.
package adapters

import (
	"crypto/sha256"
	"encoding/hex"
)

// DeriveID returns a canonical UUIDv4-shaped id from the SHA-256 of parts
// (each ended by a NUL, so that no two lists of parts collide).
func DeriveID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
