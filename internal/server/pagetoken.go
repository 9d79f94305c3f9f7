package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// A page token carries where the next page starts and the snapshot of the
// search, and is bound by an HMAC to the filter and the caller:
//
//	[0]      version (1)
//	[1]      reserved (0)
//	[2:10]   resolved "now" of the first page, Unix ns (the default end)
//	[10:18]  snapshot size
//	[18:26]  position event_time, Unix ns
//	[26:34]  position seq
//	[34:66]  HMAC-SHA256(key, [0:34] ‖ len(filter) ‖ filter ‖ principal)
//
// 66 bytes encode to 88 base64url characters with no padding bits, so no two
// strings decode to the same token.
const (
	pageTokenVersion = 1
	pageTokenBody    = 34
	pageTokenLen     = pageTokenBody + sha256.Size
)

var pageTokenEncoding = base64.RawURLEncoding.Strict()

type pageToken struct {
	now  time.Time
	size uint64
	pos  store.Position
}

func errPageToken() error {
	return &event.FieldError{Field: "page_token", Rule: "invalid: altered, or used with another filter or by another caller"}
}

func pageTokenMAC(key, body, filter []byte, principal string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	m.Write(binary.AppendUvarint(nil, uint64(len(filter))))
	m.Write(filter)
	m.Write([]byte(principal))
	return m.Sum(nil)
}

func encodePageToken(key []byte, t pageToken, filter []byte, principal string) string {
	b := make([]byte, 0, pageTokenLen)
	b = append(b, pageTokenVersion, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(t.now.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, t.size)
	b = binary.BigEndian.AppendUint64(b, uint64(t.pos.EventTime.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, t.pos.Seq)
	b = append(b, pageTokenMAC(key, b, filter, principal)...)
	return pageTokenEncoding.EncodeToString(b)
}

func decodePageToken(key []byte, s string, filter []byte, principal string) (pageToken, error) {
	b, err := pageTokenEncoding.DecodeString(s)
	if err != nil || len(b) != pageTokenLen || b[0] != pageTokenVersion || b[1] != 0 {
		return pageToken{}, errPageToken()
	}
	if !hmac.Equal(b[pageTokenBody:], pageTokenMAC(key, b[:pageTokenBody], filter, principal)) {
		return pageToken{}, errPageToken()
	}
	return pageToken{
		now:  time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10]))).UTC(),
		size: binary.BigEndian.Uint64(b[10:18]),
		pos: store.Position{
			EventTime: time.Unix(0, int64(binary.BigEndian.Uint64(b[18:26]))).UTC(),
			Seq:       binary.BigEndian.Uint64(b[26:34]),
		},
	}, nil
}
