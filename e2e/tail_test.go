package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// recvNames reads n events from a tail stream, failing after 5 s.
func recvNames(t *testing.T, stream pb.EventService_TailEventsClient, n int) []*pb.TailEventsResponse {
	t.Helper()
	got := make(chan *pb.TailEventsResponse)
	errc := make(chan error, 1)
	go func() {
		for range n {
			r, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			got <- r
		}
	}()
	var out []*pb.TailEventsResponse
	for len(out) < n {
		select {
		case r := <-got:
			out = append(out, r)
		case err := <-errc:
			t.Fatalf("tail: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatalf("tail: %d of %d events within 5 s", len(out), n)
		}
	}
	return out
}

// The gRPC tail: filtered, scoped to the caller's workspaces, resumable
// without a gap.
func TestGRPCTailEvents(t *testing.T) {
	iss := newIssuer(t)
	s, _ := startAccessServer(t, iss, accessPolicy)
	c, adminCtx := s.grpcClient()
	aliceCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+iss.sign("rsa-1", iss.claims("alice")))
	filter := &pb.Filter{ActionExact: new("actions/grpctail/CREATE")}

	ctx, cancel := context.WithCancel(adminCtx)
	all, err := c.TailEvents(ctx, &pb.TailEventsRequest{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := c.TailEvents(aliceCtx, &pb.TailEventsRequest{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	var created []any
	for _, ws := range []string{"w1", "w2", "w1"} {
		created = append(created, s.create(newID(), ev(map[string]any{"action": "actions/grpctail/CREATE", "resource": "//svc/workspaces/" + ws + "/x"}))["name"])
		s.create(newID(), ev(map[string]any{"action": "actions/other/CREATE"}))
	}
	got := recvNames(t, all, 3)
	for i, r := range got {
		if r.GetEvent().GetName() != created[i] || r.GetNextSeq() <= 0 {
			t.Fatalf("admin's tail %d: %s next %d, want %s", i, r.GetEvent().GetName(), r.GetNextSeq(), created[i])
		}
	}
	for i, r := range recvNames(t, mine, 2) {
		if want := created[2*i]; r.GetEvent().GetName() != want {
			t.Fatalf("alice's tail %d: %s, want %s (w1 only)", i, r.GetEvent().GetName(), want)
		}
	}

	// Resume after the first event: the next two arrive, nothing is lost.
	cancel()
	resumed, err := c.TailEvents(adminCtx, &pb.TailEventsRequest{Filter: filter, StartSeq: &got[0].NextSeq})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recvNames(t, resumed, 2) {
		if r.GetEvent().GetName() != created[i+1] {
			t.Fatalf("resumed %d: %s, want %s", i, r.GetEvent().GetName(), created[i+1])
		}
	}

	neg := int64(-1)
	bad, err := c.TailEvents(adminCtx, &pb.TailEventsRequest{Filter: filter, StartSeq: &neg})
	if err == nil {
		_, err = bad.Recv()
	}
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "start_seq: must not be negative" {
		t.Fatalf("negative start_seq: %v", err)
	}
	w2, err := c.TailEvents(aliceCtx, &pb.TailEventsRequest{Filter: &pb.Filter{WorkspaceExact: new("workspaces/w2")}})
	if err == nil {
		_, err = w2.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice tailing w2: %v, want PERMISSION_DENIED", err)
	}
}
