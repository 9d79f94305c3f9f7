package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/tlog"
)

// CheckpointSource is what the server needs of the integrity log's signer.
type CheckpointSource interface {
	// Latest is the newest signed checkpoint (Signed is nil before the
	// first).
	Latest() tlog.Checkpoint
	// WaitFor returns once a signed checkpoint covers size records.
	WaitFor(ctx context.Context, size uint64) error
	// Verifier checks the log's signatures; its name is the origin.
	Verifier() note.Verifier
	// VerifierKey is the log's public key.
	VerifierKey() string
}

var _ CheckpointSource = (*tlog.Checkpointer)(nil)

// eventProofWait bounds how long GetEventProof waits for a checkpoint to
// cover a just-created event (checkpoints are signed every second).
const eventProofWait = 3 * time.Second

// logServer implements pb.LogServiceServer on a Server.
type logServer struct {
	pb.UnimplementedLogServiceServer
	s *Server
}

var _ pb.LogServiceServer = (*logServer)(nil)

func errNoCheckpoint() error {
	return withClientMessage("no signed checkpoint yet", store.ErrNotFound)
}

func (s *Server) checkpointProto(signed []byte) (*pb.Checkpoint, error) {
	cp, err := tlog.ParseCheckpoint(signed, s.log.Verifier())
	if err != nil {
		return nil, fmt.Errorf("server: stored checkpoint: %w", err)
	}
	return &pb.Checkpoint{Origin: cp.Origin, TreeSize: int64(cp.Size), RootHash: cp.Root[:], SignedNote: string(signed), VerifierKey: s.log.VerifierKey()}, nil
}

// GetCheckpoint implements pb.LogServiceServer.
func (l *logServer) GetCheckpoint(ctx context.Context, req *pb.GetCheckpointRequest) (*pb.Checkpoint, error) {
	s := l.s
	return serve(s, ctx, "GetCheckpoint", func(ctx context.Context, id *Identity) (*pb.Checkpoint, error) {
		if !id.CanRead() {
			return nil, errNoRead()
		}
		if req.GetTreeSize() < 0 {
			return nil, &event.FieldError{Field: "tree_size", Rule: "must not be negative"}
		}
		if req.GetTreeSize() == 0 {
			latest := s.log.Latest()
			if latest.Signed == nil {
				return nil, errNoCheckpoint()
			}
			return s.checkpointProto(latest.Signed)
		}
		signed, err := s.store.Checkpoint(ctx, uint64(req.GetTreeSize()))
		if errors.Is(err, store.ErrNotFound) {
			return nil, withClientMessage(fmt.Sprintf("no checkpoint was signed for tree size %d", req.GetTreeSize()), err)
		}
		if err != nil {
			return nil, err
		}
		return s.checkpointProto(signed)
	})
}

// treeSize resolves a requested tree size: 0 means the latest checkpoint's;
// others must not exceed the store's size.
func (s *Server) treeSize(ctx context.Context, field string, req int64) (uint64, error) {
	if req < 0 {
		return 0, &event.FieldError{Field: field, Rule: "must not be negative"}
	}
	if req == 0 {
		latest := s.log.Latest()
		if latest.Signed == nil {
			return 0, errNoCheckpoint()
		}
		return latest.Size, nil
	}
	size, err := s.store.Size(ctx)
	if err != nil {
		return 0, err
	}
	if uint64(req) > size {
		return 0, &event.FieldError{Field: field, Rule: fmt.Sprintf("%d exceeds the log size %d", req, size)}
	}
	return uint64(req), nil
}

func (s *Server) hashReader(ctx context.Context) sumtlog.HashReader {
	return sumtlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.store.ReadHashes(ctx, idx) })
}

// inclusion proves record seq in the tree of size.
func (s *Server) inclusion(ctx context.Context, seq, size uint64) (*pb.InclusionProof, error) {
	r := s.hashReader(ctx)
	p, err := sumtlog.ProveRecord(int64(size), int64(seq), r)
	if err != nil {
		return nil, fmt.Errorf("server: inclusion proof: %w", err)
	}
	lh, err := r.ReadHashes([]int64{sumtlog.StoredHashIndex(0, int64(seq))})
	if err != nil {
		return nil, err
	}
	out := &pb.InclusionProof{Seq: int64(seq), TreeSize: int64(size), LeafHash: lh[0][:]}
	for _, h := range p {
		out.Hashes = append(out.Hashes, h[:])
	}
	return out, nil
}

// eventByName looks up an event the caller may read.
func (s *Server) eventByName(ctx context.Context, id *Identity, name string) (store.Record, error) {
	eid, ok := strings.CutPrefix(name, event.NamePrefix)
	if !ok || event.ValidateID(eid) != nil {
		return store.Record{}, &event.FieldError{Field: "name", Rule: fmt.Sprintf("must be events/{event_id} with a canonical lowercase UUIDv4, got %q", name)}
	}
	if !id.CanRead() {
		return store.Record{}, errNoRead()
	}
	rec, err := s.store.Get(ctx, eid)
	if err == nil && !id.canSee(rec.Event) {
		// The same answer as for a missing event: no existence leak.
		err = fmt.Errorf("%w: %s hidden from %s", store.ErrNotFound, name, id.Principal)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, withClientMessage(fmt.Sprintf("event %s not found", name), err)
	}
	return rec, err
}

// GetInclusionProof implements pb.LogServiceServer.
func (l *logServer) GetInclusionProof(ctx context.Context, req *pb.GetInclusionProofRequest) (*pb.InclusionProof, error) {
	s := l.s
	return serve(s, ctx, "GetInclusionProof", func(ctx context.Context, id *Identity) (*pb.InclusionProof, error) {
		var seq uint64
		switch {
		case req.GetName() != "":
			rec, err := s.eventByName(ctx, id, req.GetName())
			if err != nil {
				return nil, err
			}
			seq = rec.Seq
		case req.Seq != nil:
			if !id.CanRead() {
				return nil, errNoRead()
			}
			if req.GetSeq() < 0 {
				return nil, &event.FieldError{Field: "seq", Rule: "must not be negative"}
			}
			recs, err := s.store.ReadRange(ctx, uint64(req.GetSeq()), 1)
			if err != nil {
				return nil, err
			}
			if len(recs) == 0 || recs[0].Seq != uint64(req.GetSeq()) || !id.canSee(recs[0].Event) {
				return nil, withClientMessage(fmt.Sprintf("no event at seq %d", req.GetSeq()), store.ErrNotFound)
			}
			seq = recs[0].Seq
		default:
			return nil, &event.FieldError{Field: "name", Rule: "name or seq required"}
		}
		size, err := s.treeSize(ctx, "tree_size", req.GetTreeSize())
		if err != nil {
			return nil, err
		}
		if seq >= size {
			return nil, &event.FieldError{Field: "tree_size", Rule: fmt.Sprintf("%d does not cover the event at seq %d", size, seq)}
		}
		return s.inclusion(ctx, seq, size)
	})
}

// GetConsistencyProof implements pb.LogServiceServer.
func (l *logServer) GetConsistencyProof(ctx context.Context, req *pb.GetConsistencyProofRequest) (*pb.ConsistencyProof, error) {
	s := l.s
	return serve(s, ctx, "GetConsistencyProof", func(ctx context.Context, id *Identity) (*pb.ConsistencyProof, error) {
		if !id.CanRead() {
			return nil, errNoRead()
		}
		to, err := s.treeSize(ctx, "to_size", req.GetToSize())
		if err != nil {
			return nil, err
		}
		from := req.GetFromSize()
		if from < 1 || uint64(from) > to {
			return nil, &event.FieldError{Field: "from_size", Rule: fmt.Sprintf("must be 1 to to_size (%d), got %d", to, from)}
		}
		out := &pb.ConsistencyProof{FromSize: from, ToSize: int64(to)}
		if uint64(from) == to {
			return out, nil
		}
		p, err := sumtlog.ProveTree(int64(to), from, s.hashReader(ctx))
		if err != nil {
			return nil, fmt.Errorf("server: consistency proof: %w", err)
		}
		for _, h := range p {
			out.Hashes = append(out.Hashes, h[:])
		}
		return out, nil
	})
}

// GetEventProof implements pb.LogServiceServer. An event accepted in the
// last second may not be covered yet; the call waits for the next
// checkpoint (at most a few seconds).
func (l *logServer) GetEventProof(ctx context.Context, req *pb.GetEventProofRequest) (*pb.EventProof, error) {
	s := l.s
	return serve(s, ctx, "GetEventProof", func(ctx context.Context, id *Identity) (*pb.EventProof, error) {
		rec, err := s.eventByName(ctx, id, req.GetName())
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, eventProofWait)
		err = s.log.WaitFor(wctx, rec.Seq+1)
		cancel()
		if err != nil {
			return nil, withClientMessage("the event is not covered by a signed checkpoint yet, retry later", store.ErrUnavailable)
		}
		latest := s.log.Latest()
		cp, err := s.checkpointProto(latest.Signed)
		if err != nil {
			return nil, err
		}
		incl, err := s.inclusion(ctx, rec.Seq, latest.Size)
		if err != nil {
			return nil, err
		}
		eid, _ := event.IDBytes(rec.Event.ID)
		leaf := tlog.EventLeaf(latest.Origin, rec.Seq, rec.Event.ReceiveTime.UnixNano(), eid, rec.Salt, rec.Stored)
		return &pb.EventProof{
			Event: EventProto(rec), StoredEvent: rec.Stored, Salt: rec.Salt, Seq: int64(rec.Seq),
			Leaf: leaf.Marshal(), Inclusion: incl, Checkpoint: cp,
		}, nil
	})
}

// waitForCheckpoint waits, when asked, until a checkpoint covers seq.
func (s *Server) waitForCheckpoint(ctx context.Context, wait bool, maxSeq uint64) error {
	if !wait {
		return nil
	}
	if err := s.log.WaitFor(ctx, maxSeq+1); err != nil {
		return fmt.Errorf("server: wait for checkpoint: %w", err)
	}
	return nil
}

func listPageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, &event.FieldError{Field: "page_size", Rule: "must not be negative"}
	case n == 0 || n > 1000:
		return 1000, nil
	}
	return int(n), nil
}

// ListLogEntries implements pb.LogServiceServer.
func (l *logServer) ListLogEntries(ctx context.Context, req *pb.ListLogEntriesRequest) (*pb.ListLogEntriesResponse, error) {
	s := l.s
	return serve(s, ctx, "ListLogEntries", func(ctx context.Context, id *Identity) (*pb.ListLogEntriesResponse, error) {
		if !id.ReadAll {
			return nil, withClientMessage("global events.read permission required", errPermissionDenied)
		}
		n, err := listPageSize(req.GetPageSize())
		if err != nil {
			return nil, err
		}
		if req.GetStartSeq() < 0 {
			return nil, &event.FieldError{Field: "start_seq", Rule: "must not be negative"}
		}
		recs, err := s.store.ReadRange(ctx, uint64(req.GetStartSeq()), n)
		if err != nil {
			return nil, err
		}
		idx := make([]int64, len(recs))
		for i, r := range recs {
			idx[i] = sumtlog.StoredHashIndex(0, int64(r.Seq))
		}
		leaves, err := s.store.ReadHashes(ctx, idx)
		if err != nil {
			return nil, err
		}
		out := &pb.ListLogEntriesResponse{}
		for i, r := range recs {
			out.Entries = append(out.Entries, &pb.LogEntry{Seq: int64(r.Seq), StoredEvent: r.Stored, Salt: r.Salt, LeafHash: leaves[i][:]})
		}
		return out, nil
	})
}

// ListCheckpoints implements pb.LogServiceServer.
func (l *logServer) ListCheckpoints(ctx context.Context, req *pb.ListCheckpointsRequest) (*pb.ListCheckpointsResponse, error) {
	s := l.s
	return serve(s, ctx, "ListCheckpoints", func(ctx context.Context, id *Identity) (*pb.ListCheckpointsResponse, error) {
		if !id.CanRead() {
			return nil, errNoRead()
		}
		n, err := listPageSize(req.GetPageSize())
		if err != nil {
			return nil, err
		}
		if req.GetStartSize() < 0 {
			return nil, &event.FieldError{Field: "start_size", Rule: "must not be negative"}
		}
		cps, err := s.store.Checkpoints(ctx, uint64(req.GetStartSize()), n)
		if err != nil {
			return nil, err
		}
		out := &pb.ListCheckpointsResponse{}
		for _, c := range cps {
			p, err := s.checkpointProto(c.Signed)
			if err != nil {
				return nil, err
			}
			out.Checkpoints = append(out.Checkpoints, p)
		}
		return out, nil
	})
}

// GetEventProof is LogService.GetEventProof for in-process callers (the
// web viewer), with the same authentication and visibility rules.
func (s *Server) GetEventProof(ctx context.Context, req *pb.GetEventProofRequest) (*pb.EventProof, error) {
	return (&logServer{s: s}).GetEventProof(ctx, req)
}
