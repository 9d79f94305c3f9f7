package e2e

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCHealthAndReflection: the standard health service answers without
// a token on every listener, tied to readiness, and reflection lists the
// services (what grpcurl needs).
func TestGRPCHealthAndReflection(t *testing.T) {
	s := startServer(t, "", "--public-addr", "127.0.0.1:0")
	for _, addr := range []string{s.addr, s.publicAddr} {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := context.Background() // no token
		h := healthpb.NewHealthClient(conn)
		for _, svc := range []string{"", "audittrail.v1.EventService"} {
			resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s: Check(%q) = %v, %v; want SERVING", addr, svc, resp, err)
			}
		}
		if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
			t.Errorf("%s: unknown service: %v, want NOT_FOUND", addr, err)
		}
		rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := rc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, svc := range resp.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		for _, want := range []string{"audittrail.v1.EventService", "audittrail.v1.LogService", "grpc.health.v1.Health"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: reflection lists %v, without %s", addr, names, want)
			}
		}
		rc.CloseSend()
	}
}
