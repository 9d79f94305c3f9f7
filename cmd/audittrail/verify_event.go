package main

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/tlog"
)

type verifyEventCommand struct {
	env *env
	cf  clientFlags
	key string
}

// Run fetches an event's proof and checks it against the given public key:
// the checkpoint signature, the leaf recomputed from the stored bytes and
// salt, and the inclusion proof. It trusts nothing else the server says.
func (c *verifyEventCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("verify event")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.StringVar(&c.key, "key", "", "the log's public key (signed-note verifier key; required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || c.key == "" {
		return fmt.Errorf("verify event: usage: verify event NAME --key PUBKEY")
	}
	v, err := note.NewVerifier(c.key)
	if err != nil {
		return fmt.Errorf("verify event: --key: %w", err)
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	p, err := cl.GetEventProof(ctx, pos[0])
	if err != nil {
		return err
	}
	e, cp, err := tlog.VerifyEvent(v, tlog.EventEvidence{
		Stored: p.StoredEvent, Salt: p.Salt, Seq: uint64(p.Seq), Leaf: p.Leaf,
		Proof: p.GetInclusion().GetHashes(), Checkpoint: []byte(p.GetCheckpoint().GetSignedNote()),
	})
	if err != nil {
		fmt.Fprintf(c.env.stderr, "FAILED %s: %v\n", pos[0], err)
		return exitError{1}
	}
	if "events/"+e.ID != p.GetEvent().GetName() {
		fmt.Fprintf(c.env.stderr, "FAILED %s: the proof is for events/%s\n", pos[0], e.ID)
		return exitError{1}
	}
	fmt.Fprintf(c.env.stdout, "verified events/%s: seq %d is in the tree of size %d signed by %s\n", e.ID, p.Seq, cp.Size, cp.Origin)
	return nil
}
