package export

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig configures a NATSSink.
type NATSConfig struct {
	// URL of the NATS server, e.g. nats://127.0.0.1:4222.
	URL string
	// Subject each event is published to; a JetStream stream must
	// capture it.
	Subject string
	Format  Formatter
}

// Validate reports the first invalid field.
func (c *NATSConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("export: nats: url is required")
	case c.Subject == "":
		return errors.New("export: nats: subject is required")
	case c.Format == nil:
		return errors.New("export: nats: a format is required")
	}
	return nil
}

// NATSSink publishes each event to JetStream with Nats-Msg-Id set to the
// event id, so that the stream drops the redeliveries of a retried batch
// (within its duplicate window).
type NATSSink struct {
	cfg NATSConfig
	nc  *nats.Conn
	js  jetstream.JetStream
}

var _ Sink = (*NATSSink)(nil)

// NewNATSSink returns the sink; it connects on first use and reconnects by
// itself.
func NewNATSSink(cfg NATSConfig) (*NATSSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &NATSSink{cfg: cfg}, nil
}

func (n *NATSSink) connect() error {
	if n.js != nil {
		return nil
	}
	nc, err := nats.Connect(n.cfg.URL, nats.Name("audittrail sink"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false))
	if err != nil {
		return fmt.Errorf("export: nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("export: nats: %w", err)
	}
	n.nc, n.js = nc, js
	return nil
}

// Deliver implements Sink: every event of the batch is published
// asynchronously, and the batch is delivered when JetStream acknowledged
// each one.
func (n *NATSSink) Deliver(ctx context.Context, state []byte, b Batch) ([]byte, error) {
	if len(b.Records) == 0 {
		return state, nil
	}
	if err := n.connect(); err != nil {
		return nil, err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(b.Records))
	for _, r := range b.Records {
		data, err := n.cfg.Format(r)
		if err != nil {
			return nil, err
		}
		f, err := n.js.PublishAsync(n.cfg.Subject, data, jetstream.WithMsgID(r.Event.ID))
		if err != nil {
			return nil, fmt.Errorf("export: nats: publish seq %d: %w", r.Seq, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return nil, fmt.Errorf("export: nats: seq %d not acknowledged: %w", b.Records[i].Seq, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return state, nil
}

// Close closes the connection.
func (n *NATSSink) Close() {
	if n.nc != nil {
		n.nc.Close()
	}
}
