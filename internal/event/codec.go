package event

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The binary encoding is the form in which events are stored and, later,
// hashed into the integrity log, so it is deterministic (map entries sorted
// by key) and versioned. Layout of version 1:
//
//	[0]      version (1)
//	[1:9]    receive_time, Unix nanoseconds, big-endian int64
//	[9:17]   event_time, Unix nanoseconds, big-endian int64
//	[17:33]  event id, the 16 bytes of the UUID
//	[33]     flags: bit 0 read_only
//	[34]     type
//	then     status code (uvarint); status message, event_source, action,
//	         principal, source_ip_address, resource, workspace, user_agent
//	         (each uvarint length + bytes); metadata and request_parameters
//	         (each uvarint count, then key/value pairs as length-prefixed
//	         strings in ascending key order).
//
// receive_time sits at a fixed offset so the store's sequencer can stamp an
// already encoded event without re-encoding it.
const (
	encodingV1        = 1
	receiveTimeOffset = 1
	fixedHeaderLen    = 35
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("event codec: corrupt encoding")

// EncodedLen returns the length of e's binary encoding.
func EncodedLen(e *Event) int {
	n := fixedHeaderLen + uvarintLen(uint64(e.Status.Code))
	for _, s := range [...]string{e.Status.Message, e.EventSource, e.Action, e.Principal, e.SourceIPAddress, e.Resource, e.Workspace, e.UserAgent} {
		n += strLen(s)
	}
	for _, m := range [...]map[string]string{e.Metadata, e.RequestParameters} {
		n += uvarintLen(uint64(len(m)))
		for k, v := range m {
			n += strLen(k) + strLen(v)
		}
	}
	return n
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendBinary appends e's binary encoding to b. e.ID must be a valid UUID
// (Normalize guarantees it).
func AppendBinary(b []byte, e *Event) ([]byte, error) {
	id, err := parseUUID(e.ID)
	if err != nil {
		return b, err
	}
	b = slices.Grow(b, EncodedLen(e))
	b = append(b, encodingV1)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.ReceiveTime)))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.EventTime)))
	b = append(b, id[:]...)
	var flags byte
	if e.ReadOnly {
		flags |= 1
	}
	b = append(b, flags, byte(e.Type))
	b = binary.AppendUvarint(b, uint64(e.Status.Code))
	for _, s := range [...]string{e.Status.Message, e.EventSource, e.Action, e.Principal, e.SourceIPAddress, e.Resource, e.Workspace, e.UserAgent} {
		b = appendStr(b, s)
	}
	b = appendMap(b, e.Metadata)
	b = appendMap(b, e.RequestParameters)
	return b, nil
}

// SetEncodedReceiveTime stamps receive_time into an encoding made by
// AppendBinary.
func SetEncodedReceiveTime(enc []byte, t time.Time) {
	binary.BigEndian.PutUint64(enc[receiveTimeOffset:], uint64(unixNano(t)))
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, m[k])
	}
	return b
}

// UnmarshalBinary decodes an encoding made by AppendBinary. It never panics
// and rejects trailing bytes, so one encoding has exactly one meaning.
func UnmarshalBinary(b []byte) (*Event, error) {
	if len(b) < fixedHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(b))
	}
	if b[0] != encodingV1 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	e := &Event{HasStatus: true}
	if rt := int64(binary.BigEndian.Uint64(b[1:9])); rt != 0 {
		e.ReceiveTime = time.Unix(0, rt).UTC()
	}
	e.EventTime = time.Unix(0, int64(binary.BigEndian.Uint64(b[9:17]))).UTC()
	e.ID = formatUUID(b[17:33])
	e.ReadOnly = b[33]&1 != 0
	if b[33]&^1 != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, b[33])
	}
	e.Type = Type(b[34])
	d := decoder{b: b[fixedHeaderLen:]}
	code := d.uvarint()
	if code > MaxStatusCode {
		return nil, fmt.Errorf("%w: status code %d", ErrCorrupt, code)
	}
	e.Status.Code = int32(code)
	for _, p := range [...]*string{&e.Status.Message, &e.EventSource, &e.Action, &e.Principal, &e.SourceIPAddress, &e.Resource, &e.Workspace, &e.UserAgent} {
		*p = d.str()
	}
	e.Metadata = d.strMap()
	e.RequestParameters = d.strMap()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return e, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		// Non-minimal varints are refused so that every event has exactly
		// one encoding (and so one hash).
		d.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: string length %d exceeds remaining %d bytes", ErrCorrupt, n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strMap() map[string]string {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b))/2 {
		d.err = fmt.Errorf("%w: map of %d entries exceeds remaining bytes", ErrCorrupt, n)
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		k, v := d.str(), d.str()
		if i > 0 && k <= prev {
			d.err = fmt.Errorf("%w: map keys not in ascending order", ErrCorrupt)
		}
		m[k] = v
		prev = k
	}
	return m
}

// ParseUUID returns the 16 bytes of a canonical UUID string.
func parseUUID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("event codec: bad uuid %q", truncate(s, 40))
	}
	hexs := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(id[:], []byte(hexs)); err != nil {
		return id, fmt.Errorf("event codec: bad uuid %q: %w", truncate(s, 40), err)
	}
	return id, nil
}

// IDBytes returns the 16-byte form of a canonical UUID, for keys.
func IDBytes(id string) ([16]byte, error) { return parseUUID(id) }

// FormatID returns the canonical text form of a 16-byte event id.
func FormatID(id [16]byte) string { return formatUUID(id[:]) }

func formatUUID(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], b[10:16])
	return string(buf[:])
}
