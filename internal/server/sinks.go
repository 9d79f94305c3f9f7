package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/export"
)

// SinkSource reports the export sinks' positions.
type SinkSource interface {
	Sinks(ctx context.Context) []export.Status
}

// sinkServer implements pb.SinkServiceServer on a Server.
type sinkServer struct {
	pb.UnimplementedSinkServiceServer
	s *Server
}

var _ pb.SinkServiceServer = (*sinkServer)(nil)

// ListSinks implements pb.SinkServiceServer.
func (ss *sinkServer) ListSinks(ctx context.Context, _ *pb.ListSinksRequest) (*pb.ListSinksResponse, error) {
	s := ss.s
	return serve(s, ctx, "ListSinks", func(ctx context.Context, id *Identity) (*pb.ListSinksResponse, error) {
		if !id.Admin {
			return nil, withClientMessage("sink status is reserved to services/audittrail-admin", errPermissionDenied)
		}
		out := &pb.ListSinksResponse{}
		if s.sinks == nil {
			return out, nil
		}
		for _, st := range s.sinks.Sinks(ctx) {
			p := &pb.Sink{Name: st.Name, Type: st.Type, Running: st.Running, NextSeq: st.Next, LogSize: st.Size,
				LagEvents: st.LagEvents(), LagSeconds: st.LagSeconds, DeliveredEvents: st.Delivered, LastError: st.LastError}
			if !st.LastDelivery.IsZero() {
				p.LastDeliveryTime = timestamppb.New(st.LastDelivery)
			}
			out.Sinks = append(out.Sinks, p)
		}
		return out, nil
	})
}
