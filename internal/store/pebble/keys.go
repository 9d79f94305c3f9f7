package pebble

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/audittrail/audittrail/internal/event"
)

// Key layout. Every index orders its entries newest first by appending the
// order key: bitwise-inverted event_time (ns) then bitwise-inverted seq, both
// big-endian, so an ascending scan walks (event_time desc, seq desc).
//
//	'e' order                        → salt[32] ‖ event bytes (event.AppendBinary)
//	's' seq                          → order ‖ leaf hash[32] (seq → event, tree level 0)
//	'i' uuid(16)                     → order        (id uniqueness, Get)
//	'x' field esc(value) 0x00 0x01 order → ∅       (exact filters)
//
// Index values are escaped (0x00 → 0x00 0xff) and terminated by 0x00 0x01 so
// that one value's entries are contiguous and a literal prefix of values is a
// contiguous key range.
const (
	prefixEvent     byte = 'e'
	prefixSeq       byte = 's'
	prefixID        byte = 'i'
	prefixIndex     byte = 'x'
	prefixHash      byte = 'h' // 'h' index(8) → tree hash (sumdb/tlog layout)
	prefixCkpt      byte = 'c' // 'c' size(8) → signed checkpoint note
	prefixMeta      byte = 'm' // 'm' name → store metadata (the log origin)
	prefixToken     byte = 't' // 't' id → token record (JSON)
	prefixTokenHash byte = 'k' // 'k' sha256(secret) → token id
	prefixLogin     byte = 'l' // 'l' principal → login name
	prefixCursor    byte = 'u' // 'u' sink name → sink cursor (internal/export)

	orderLen = 16
)

var errBadKey = errors.New("pebble store: malformed key")

func orderKey(b []byte, eventTime time.Time, seq uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, ^uint64(eventTime.UnixNano()))
	return binary.BigEndian.AppendUint64(b, ^seq)
}

// parseOrder reads the order key at the end of k.
func parseOrder(k []byte) (eventTime time.Time, seq uint64, err error) {
	if len(k) < orderLen {
		return time.Time{}, 0, errBadKey
	}
	o := k[len(k)-orderLen:]
	ns := int64(^binary.BigEndian.Uint64(o[:8]))
	return time.Unix(0, ns).UTC(), ^binary.BigEndian.Uint64(o[8:]), nil
}

func eventKey(order []byte) []byte {
	return append([]byte{prefixEvent}, order...)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixSeq}, seq)
}

func idKey(id [16]byte) []byte {
	return append([]byte{prefixID}, id[:]...)
}

// indexValuePrefix is the key prefix of every entry of field=value.
func indexValuePrefix(b []byte, f event.Field, value string) []byte {
	b = appendEscaped(append(b, prefixIndex, byte(f)), value)
	return append(b, 0x00, 0x01)
}

// indexLiteralPrefix is the key prefix of the entries of every value of f
// that starts with prefix.
func indexLiteralPrefix(f event.Field, prefix string) []byte {
	return appendEscaped([]byte{prefixIndex, byte(f)}, prefix)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0x00 {
			b = append(b, 0x00, 0xff)
		} else {
			b = append(b, s[i])
		}
	}
	return b
}

// splitIndexValue returns the length of the value prefix (through the
// terminator) of an index key that starts with 'x' field.
func splitIndexValue(k []byte) (int, error) {
	for i := 2; i+1 < len(k); i++ {
		if k[i] == 0x00 {
			if k[i+1] == 0x01 {
				return i + 2, nil
			}
			i++ // escaped zero byte
		}
	}
	return 0, errBadKey
}

// rangeBounds returns the scan bounds within prefix for event_time in
// [startNs, endNs) (Unix ns, as event.Filter.NanoRange clamps them),
// resuming strictly after `after` when it is set.
func rangeBounds(prefix []byte, startNs, endNs int64, after []byte) (lower, upper []byte, empty bool) {
	if endNs <= startNs || endNs <= 0 {
		return nil, nil, true
	}
	lower = binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), ^uint64(endNs-1))
	if after != nil {
		a := append(append(append([]byte(nil), prefix...), after...), 0x00)
		if string(a) > string(lower) {
			lower = a
		}
	}
	upper = binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), ^uint64(startNs))
	upper = append(upper, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00)
	return lower, upper, string(lower) >= string(upper)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func hashKey(index int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixHash}, uint64(index))
}

func checkpointKey(size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixCkpt}, size)
}

var originKey = []byte{prefixMeta, 'o', 'r', 'i', 'g', 'i', 'n'}
