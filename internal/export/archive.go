package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/store"
)

// The archive layout in a bucket (docs/EXPORT.md):
//
//	<prefix>/<log-id>/events/YYYY/MM/DD/<first>-<last>.jsonl.gz
//	<prefix>/<log-id>/digests/<n>.digest
//
// log-id is LogID(origin); first and last are seqs in 20 digits, the date
// is the first event's receive time (UTC); n counts digests from 1 in 10
// digits. Each line of an events object is ArchiveLine as JSON; a digest is
// a signed note (DigestHeader …) listing the objects written since the
// previous digest and the newest signed checkpoint they reach.
const (
	DigestHeader = "audittrail archive digest v1"
	digestExt    = ".digest"
	eventsExt    = ".jsonl.gz"
)

// LogID names a log in object keys: the first 16 hex digits of the
// SHA-256 of its origin (origins hold slashes and may be long).
func LogID(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(h[:8])
}

// ArchiveLine is one event in an events object: the exact stored bytes and
// salt the log's leaf commits to.
type ArchiveLine struct {
	Seq    uint64 `json:"seq"`
	Salt   []byte `json:"salt"`   // base64
	Stored []byte `json:"stored"` // base64 of event.AppendBinary
}

// CheckpointReader is what the archive sink reads of the integrity log.
type CheckpointReader interface {
	LatestCheckpoint(ctx context.Context) (uint64, []byte, error)
	Checkpoints(ctx context.Context, from uint64, n int) ([]store.SizedCheckpoint, error)
}

// ArchiveSink writes the whole log to a bucket, with signed digests.
type ArchiveSink struct {
	objs   Objects
	log    CheckpointReader
	signer note.Signer
	base   string // <prefix>/<log-id>
}

var (
	_ Sink    = (*ArchiveSink)(nil)
	_ Ticker  = (*ArchiveSink)(nil)
	_ Bounder = (*ArchiveSink)(nil)
)

// NewArchiveSink returns the archive sink writing under prefix; signer is
// the log's checkpoint signer (its name is the origin).
func NewArchiveSink(objs Objects, log CheckpointReader, signer note.Signer, prefix string) *ArchiveSink {
	return &ArchiveSink{objs: objs, log: log, signer: signer, base: joinKey(prefix, LogID(signer.Name()))}
}

// archiveState is the sink's private state, kept in its cursor.
type archiveState struct {
	Digests        int           `json:"digests"`
	PrevKey        string        `json:"prev_key,omitempty"`
	PrevSHA256     string        `json:"prev_sha256,omitempty"`
	PrevCheckpoint uint64        `json:"prev_checkpoint,omitempty"`
	Objects        []DigestEntry `json:"objects,omitempty"`
}

// DigestEntry is one events object listed in a digest.
type DigestEntry struct {
	Key    string `json:"key"`
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

func decodeState(b []byte) (archiveState, error) {
	var st archiveState
	if len(b) == 0 {
		return st, nil
	}
	err := json.Unmarshal(b, &st)
	return st, err
}

// Bound implements Bounder: only events a signed checkpoint covers are
// archived, so every digest can name a checkpoint that reaches its objects.
func (a *ArchiveSink) Bound(ctx context.Context) (uint64, error) {
	size, _, err := a.log.LatestCheckpoint(ctx)
	return size, err
}

// EventsKey is the key, relative to <prefix>/<log-id>/, of the events
// object holding seqs first..last. Digests list relative keys, so a copy
// of the archive verifies wherever it is put.
func EventsKey(first, last uint64, firstReceive time.Time) string {
	return joinKey("events", firstReceive.UTC().Format("2006/01/02"), fmt.Sprintf("%020d-%020d%s", first, last, eventsExt))
}

// Deliver implements Sink: one events object per batch.
func (a *ArchiveSink) Deliver(ctx context.Context, state []byte, b Batch) ([]byte, error) {
	st, err := decodeState(state)
	if err != nil {
		return nil, fmt.Errorf("export: archive state: %w", err)
	}
	if len(b.Records) != int(b.Last-b.First+1) {
		return nil, errors.New("export: archive: a batch must hold every event of its range (archive sinks take no filter)")
	}
	body, err := encodeEvents(b.Records)
	if err != nil {
		return nil, err
	}
	key := EventsKey(b.First, b.Last, b.Records[0].Event.ReceiveTime)
	if err := putOnce(ctx, a.objs, joinKey(a.base, key), body, "application/gzip"); err != nil {
		return nil, err
	}
	st.Objects = append(st.Objects, DigestEntry{Key: key, First: b.First, Last: b.Last, SHA256: sha256Hex(body), Bytes: len(body)})
	return json.Marshal(st)
}

// encodeEvents is the gzip of one ArchiveLine per record, as
// {"seq":N,"salt":"<base64>","stored":"<base64>"}: the JSON that
// encoding/json writes for ArchiveLine, spelled out because this runs for
// every archived event. The gzip header carries no name or time, so the
// same records give the same bytes.
func encodeEvents(recs []store.Record) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	var line []byte
	for _, r := range recs {
		line = append(line[:0], `{"seq":`...)
		line = strconv.AppendUint(line, r.Seq, 10)
		line = append(line, `,"salt":"`...)
		line = base64.StdEncoding.AppendEncode(line, r.Salt)
		line = append(line, `","stored":"`...)
		line = base64.StdEncoding.AppendEncode(line, r.Stored)
		line = append(line, "\"}\n"...)
		if _, err := zw.Write(line); err != nil {
			return nil, fmt.Errorf("export: archive: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("export: archive: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeEvents parses an events object.
func DecodeEvents(body []byte) ([]ArchiveLine, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %w", err)
	}
	var out []ArchiveLine
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l ArchiveLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Tick implements Ticker: it writes a digest of the objects written since
// the previous one (when there are any).
func (a *ArchiveSink) Tick(ctx context.Context, state []byte, final bool) ([]byte, error) {
	st, err := decodeState(state)
	if err != nil {
		return nil, fmt.Errorf("export: archive state: %w", err)
	}
	if len(st.Objects) == 0 {
		return state, nil
	}
	end := st.Objects[len(st.Objects)-1].Last + 1
	cp, err := a.checkpointWithin(ctx, st.PrevCheckpoint, end)
	if err != nil {
		return nil, err
	}
	d := Digest{Origin: a.signer.Name(), Number: st.Digests + 1, PrevKey: st.PrevKey, PrevSHA256: st.PrevSHA256, Objects: st.Objects}
	if cp != nil {
		d.Checkpoint = cp.Signed
	}
	signed, err := note.Sign(&note.Note{Text: d.text()}, a.signer)
	if err != nil {
		return nil, fmt.Errorf("export: archive digest: %w", err)
	}
	key := DigestKey(d.Number)
	if err := putOnce(ctx, a.objs, joinKey(a.base, key), signed, "text/plain; charset=utf-8"); err != nil {
		return nil, err
	}
	next := archiveState{Digests: d.Number, PrevKey: key, PrevSHA256: sha256Hex(signed), PrevCheckpoint: st.PrevCheckpoint}
	if cp != nil {
		next.PrevCheckpoint = cp.Size
	}
	return json.Marshal(next)
}

// checkpointWithin returns the largest kept checkpoint with after < size
// <= end, or nil. Kept checkpoints only grow, so the answer for a given
// range never changes: a repeated Tick signs the same digest.
func (a *ArchiveSink) checkpointWithin(ctx context.Context, after, end uint64) (*store.SizedCheckpoint, error) {
	var best *store.SizedCheckpoint
	for from := after + 1; from <= end; {
		cps, err := a.log.Checkpoints(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		for i := range cps {
			if cps[i].Size > end {
				return best, nil
			}
			best = &cps[i]
		}
		if len(cps) < 1000 {
			break
		}
		from = cps[len(cps)-1].Size + 1
	}
	return best, nil
}

// DigestKey is the key of digest n, relative to <prefix>/<log-id>/.
func DigestKey(n int) string {
	return joinKey("digests", fmt.Sprintf("%010d%s", n, digestExt))
}

// Digest is the signed body of a digest object:
//
//	audittrail archive digest v1
//	log <origin>
//	number <n>
//	previous <key> <sha256 hex of the previous digest object> | previous none
//	object <key> <first seq> <last seq> <sha256 hex> <bytes>     (one per object, in seq order)
//
// Keys are relative to <prefix>/<log-id>/.
//
//	checkpoint <base64 of a signed checkpoint note>              (at most one)
type Digest struct {
	Origin              string
	Number              int
	PrevKey, PrevSHA256 string
	Objects             []DigestEntry
	Checkpoint          []byte
}

func (d *Digest) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nlog %s\nnumber %d\n", DigestHeader, d.Origin, d.Number)
	if d.PrevKey == "" {
		b.WriteString("previous none\n")
	} else {
		fmt.Fprintf(&b, "previous %s %s\n", d.PrevKey, d.PrevSHA256)
	}
	for _, o := range d.Objects {
		fmt.Fprintf(&b, "object %s %d %d %s %d\n", o.Key, o.First, o.Last, o.SHA256, o.Bytes)
	}
	if d.Checkpoint != nil {
		fmt.Fprintf(&b, "checkpoint %s\n", base64.StdEncoding.EncodeToString(d.Checkpoint))
	}
	return b.String()
}

// ParseDigest verifies a digest object's signature with the log's verifier
// and parses it.
func ParseDigest(signed []byte, v note.Verifier) (*Digest, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 4 || lines[0] != DigestHeader {
		return nil, errors.New("not an " + DigestHeader)
	}
	d := &Digest{}
	var ok bool
	if d.Origin, ok = strings.CutPrefix(lines[1], "log "); !ok || d.Origin != v.Name() {
		return nil, fmt.Errorf("log line %q does not name origin %s", lines[1], v.Name())
	}
	num, ok := strings.CutPrefix(lines[2], "number ")
	if d.Number, err = strconv.Atoi(num); !ok || err != nil || d.Number < 1 {
		return nil, fmt.Errorf("bad number line %q", lines[2])
	}
	switch f := strings.Fields(lines[3]); {
	case len(f) == 2 && f[0] == "previous" && f[1] == "none":
	case len(f) == 3 && f[0] == "previous" && isSHA256Hex(f[2]) && fs.ValidPath(f[1]):
		d.PrevKey, d.PrevSHA256 = f[1], f[2]
	default:
		return nil, fmt.Errorf("bad previous line %q", lines[3])
	}
	for _, l := range lines[4:] {
		f := strings.Fields(l)
		switch {
		case len(f) == 6 && f[0] == "object":
			first, e1 := strconv.ParseUint(f[2], 10, 64)
			last, e2 := strconv.ParseUint(f[3], 10, 64)
			size, e3 := strconv.Atoi(f[5])
			if errors.Join(e1, e2, e3) != nil || last < first {
				return nil, fmt.Errorf("bad object line %q", l)
			}
			if !isSHA256Hex(f[4]) || !fs.ValidPath(f[1]) {
				return nil, fmt.Errorf("bad object line %q", l)
			}
			d.Objects = append(d.Objects, DigestEntry{Key: f[1], First: first, Last: last, SHA256: f[4], Bytes: size})
		case len(f) == 2 && f[0] == "checkpoint" && d.Checkpoint == nil:
			if d.Checkpoint, err = base64.StdEncoding.DecodeString(f[1]); err != nil {
				return nil, fmt.Errorf("bad checkpoint line: %w", err)
			}
		default:
			return nil, fmt.Errorf("unexpected line %q", l)
		}
	}
	// One spelling per digest: what was signed is exactly what is read.
	if d.text() != n.Text {
		return nil, errors.New("not in canonical form (spacing, number or hex spelling)")
	}
	return d, nil
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && hex.EncodeToString(b) == s
}
