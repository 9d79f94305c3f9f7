package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthServer is the standard gRPC health service (grpc.health.v1), tied
// to readiness: SERVING exactly when /readyz answers 200 (the store is
// reachable and takes writes). The service name "" and
// "audittrail.v1.EventService" are known; no token is needed, as for
// /readyz.
type healthServer struct {
	healthpb.UnimplementedHealthServer
	s *Server
}

var _ healthpb.HealthServer = (*healthServer)(nil)

var healthServices = map[string]bool{"": true, "audittrail.v1.EventService": true}

func (h *healthServer) status(ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if h.s.store.Ping(ctx) != nil {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}

// Check implements healthpb.HealthServer.
func (h *healthServer) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !healthServices[req.GetService()] {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: h.status(ctx)}, nil
}

// Watch implements healthpb.HealthServer: the status now, then each change
// (checked every second) until the client goes away or the server stops.
func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if !healthServices[req.GetService()] {
		return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN})
	}
	last := healthpb.HealthCheckResponse_UNKNOWN
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if st := h.status(stream.Context()); st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-tick.C:
		}
	}
}
