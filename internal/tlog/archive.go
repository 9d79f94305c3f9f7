package tlog

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
)

// An archive is a directory holding the whole log from seq 0 up to its
// latest checkpoint (docs/INTEGRITY.md):
//
//	events.bin                 per event, in seq order: uvarint(len(stored)) ‖ salt[32] ‖ stored
//	leaves.bin                 per event, in seq order: the 32-byte leaf hash the log committed to
//	checkpoints/<size>.note    every kept signed checkpoint, size in 20 decimal digits
//
// No tree hashes are needed: the archive starts at seq 0, so the verifier
// rebuilds the whole tree from the events.
const (
	ArchiveEvents      = "events.bin"
	ArchiveLeaves      = "leaves.bin"
	ArchiveCheckpoints = "checkpoints"
)

// ArchiveWriter writes an archive.
type ArchiveWriter struct {
	dir            string
	events, leaves *os.File
	ew, lw         *bufio.Writer
	next           uint64
}

// CreateArchive creates an archive in dir, which must not hold one.
func CreateArchive(dir string) (*ArchiveWriter, error) {
	if err := os.MkdirAll(filepath.Join(dir, ArchiveCheckpoints), 0o755); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	ev, err := os.OpenFile(filepath.Join(dir, ArchiveEvents), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	lv, err := os.OpenFile(filepath.Join(dir, ArchiveLeaves), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("archive: %w", err)
	}
	return &ArchiveWriter{dir: dir, events: ev, leaves: lv, ew: bufio.NewWriter(ev), lw: bufio.NewWriter(lv)}, nil
}

// AddEntry appends the next event and its committed leaf hash; seqs must
// come in order from 0.
func (w *ArchiveWriter) AddEntry(seq uint64, salt, stored, leafHash []byte) error {
	if seq != w.next {
		return fmt.Errorf("archive: entry seq %d, want %d", seq, w.next)
	}
	if len(salt) != 32 || len(leafHash) != len(Hash{}) {
		return fmt.Errorf("archive: entry seq %d: salt and leaf hash must be 32 bytes", seq)
	}
	w.next++
	w.ew.Write(binary.AppendUvarint(nil, uint64(len(stored))))
	w.ew.Write(salt)
	w.ew.Write(stored)
	_, err := w.lw.Write(leafHash)
	return err
}

// AddCheckpoint writes one signed checkpoint.
func (w *ArchiveWriter) AddCheckpoint(size uint64, signed []byte) error {
	return os.WriteFile(filepath.Join(w.dir, ArchiveCheckpoints, fmt.Sprintf("%020d.note", size)), signed, 0o644)
}

// Close flushes and syncs the archive.
func (w *ArchiveWriter) Close() error {
	var errs []error
	for _, f := range []struct {
		b *bufio.Writer
		f *os.File
	}{{w.ew, w.events}, {w.lw, w.leaves}} {
		errs = append(errs, f.b.Flush(), f.f.Sync(), f.f.Close())
	}
	return errors.Join(errs...)
}

// ArchiveReport is the outcome of verifying an archive.
type ArchiveReport struct {
	Checkpoints, ValidCheckpoints int
	Events, ValidEvents           int
	// Problems names each bad checkpoint or event and why.
	Problems []string
}

// OK reports whether everything verified.
func (r *ArchiveReport) OK() bool {
	return len(r.Problems) == 0 && r.ValidCheckpoints == r.Checkpoints && r.ValidEvents == r.Events
}

// Summary is "N/N checkpoints, M/M events valid".
func (r *ArchiveReport) Summary() string {
	return fmt.Sprintf("%d/%d checkpoints, %d/%d events valid", r.ValidCheckpoints, r.Checkpoints, r.ValidEvents, r.Events)
}

func (r *ArchiveReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// VerifyArchive checks an archive fully offline with the log's verifier:
// every checkpoint signature; the tree root of the archived leaves at every
// checkpoint (which proves the leaves authentic); every event's leaf
// recomputed from its stored bytes and salt against its authentic leaf; and
// seq and receive-time order. An event is valid when its leaf matches and a
// verified checkpoint covers it. Missing or unreadable files are errors; everything else is
// reported, naming the bad event or checkpoint.
func VerifyArchive(dir string, v note.Verifier) (*ArchiveReport, error) {
	r := &ArchiveReport{}
	cps, err := readArchiveCheckpoints(dir, v, r)
	if err != nil {
		return nil, err
	}
	ev, err := os.Open(filepath.Join(dir, ArchiveEvents))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer ev.Close()
	lv, err := os.Open(filepath.Join(dir, ArchiveLeaves))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer lv.Close()
	er, lr := bufio.NewReader(ev), bufio.NewReader(lv)

	b, _ := NewBuilder(0, nil)
	var prevRecv int64
	var pendingGood int // events since the last checkpoint that passed their own checks
	ci := 0             // next checkpoint to reach
	// reach checks every checkpoint of the tree's current size.
	reach := func() {
		for ci < len(cps) && cps[ci].Size == uint64(b.Size()) {
			root, _ := b.Root()
			if root != cps[ci].Root {
				r.problem("checkpoint of size %d: %s does not give its root: leaves before seq %d were altered, removed or reordered", cps[ci].Size, ArchiveLeaves, cps[ci].Size)
				r.ValidCheckpoints--
			} else {
				r.ValidEvents += pendingGood
			}
			pendingGood = 0
			ci++
		}
	}
	reach()
	for seq := uint64(0); ; seq++ {
		stored, salt, errE := readEvent(er)
		var leafHash Hash
		_, errL := io.ReadFull(lr, leafHash[:])
		if errE == io.EOF && errL == io.EOF {
			break
		}
		r.Events++
		if errE != nil || errL != nil {
			r.problem("seq %d: %s and %s disagree or are truncated (%v, %v)", seq, ArchiveEvents, ArchiveLeaves, errE, errL)
			break
		}
		// The tree is built from the archived leaf hashes: a checkpoint whose
		// root they give proves them authentic, and each event is then
		// checked against its authentic leaf hash.
		name := fmt.Sprintf("seq %d", seq)
		good := true
		e, derr := event.UnmarshalBinary(stored)
		switch {
		case derr != nil:
			r.problem("%s: stored bytes do not decode (altered event): %v", name, derr)
			good = false
		default:
			name = fmt.Sprintf("event events/%s (seq %d)", e.ID, seq)
			id, _ := event.IDBytes(e.ID)
			if LeafHash(EventLeaf(originOf(v), seq, e.ReceiveTime.UnixNano(), id, salt, stored).Marshal()) != leafHash {
				r.problem("%s: does not match the leaf the log committed to at seq %d (altered, replaced or reordered event)", name, seq)
				good = false
			}
			if rt := e.ReceiveTime.UnixNano(); rt < prevRecv {
				r.problem("%s: receive time before the previous event's (events out of order)", name)
				good = false
			} else {
				prevRecv = rt
			}
		}
		if _, _, err := b.Append(leafHash); err != nil {
			return nil, err
		}
		if good {
			pendingGood++
		}
		reach()
	}
	if ci < len(cps) {
		r.problem("checkpoints up to size %d cover events missing from %s (it holds %d)", cps[len(cps)-1].Size, ArchiveEvents, b.Size())
		r.ValidCheckpoints -= len(cps) - ci
	}
	if len(cps) > 0 && uint64(r.Events) > cps[len(cps)-1].Size {
		r.problem("%d events after the last checkpoint are covered by no signature", uint64(r.Events)-cps[len(cps)-1].Size)
	}
	return r, nil
}

func originOf(v note.Verifier) string { return v.Name() }

// readArchiveCheckpoints parses every checkpoint file; bad ones are reported.
// It returns the valid ones in ascending size.
func readArchiveCheckpoints(dir string, v note.Verifier, r *ArchiveReport) ([]Checkpoint, error) {
	entries, err := os.ReadDir(filepath.Join(dir, ArchiveCheckpoints))
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var out []Checkpoint
	for _, de := range entries {
		r.Checkpoints++
		b, err := os.ReadFile(filepath.Join(dir, ArchiveCheckpoints, de.Name()))
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		cp, err := ParseCheckpoint(b, v)
		if err != nil {
			r.problem("checkpoint %s: %v", de.Name(), err)
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(de.Name(), ".note"), 10, 64); err != nil || n != cp.Size {
			r.problem("checkpoint %s: file name does not match its size %d", de.Name(), cp.Size)
			continue
		}
		out = append(out, cp)
		r.ValidCheckpoints++
	}
	slices.SortFunc(out, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	return out, nil
}

func readEvent(r *bufio.Reader) (stored, salt []byte, err error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, nil, err
	}
	if n > 1<<20 {
		return nil, nil, fmt.Errorf("%w: event of %d bytes", ErrMalformed, n)
	}
	b := make([]byte, 32+n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, nil, fmt.Errorf("%w: truncated event", ErrMalformed)
	}
	return b[32:], b[:32], nil
}
