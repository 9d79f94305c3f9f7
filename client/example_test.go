package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/client"
)

// A service records its audit events without waiting for the audit trail:
// Record returns at once, batches go out in the background, and Close
// sends what is left.
func ExampleRecorder() {
	c, err := client.New("http://127.0.0.1:8080", os.Getenv("AUDITTRAIL_TOKEN"), nil)
	if err != nil {
		log.Fatal(err)
	}
	opts := client.DefaultRecorderOptions()
	// opts.SpoolDir = "/var/lib/billing/audit-spool" keeps unsent events
	// on disk, to survive a restart while the audit trail is down.
	rec, err := client.NewRecorder(c, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rec.Close(ctx) // what is still unsent stays in the spool
	}()

	// On the request path:
	id, ok := rec.Record(&pb.Event{
		EventTime: timestamppb.Now(), EventSource: "billing", Action: "actions/billing/invoices/CREATE",
		Status: &pb.Status{Code: 0}, Principal: "services/billing", SourceIpAddress: "10.1.2.3",
		Resource: "//billing/workspaces/w1/invoices/7",
	})
	fmt.Println(len(id), ok)
	// Output: 36 true
}
