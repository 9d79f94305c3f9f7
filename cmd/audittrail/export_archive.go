package main

import (
	"context"
	"fmt"

	"github.com/audittrail/audittrail/internal/tlog"
)

type exportArchiveCommand struct {
	env *env
	cf  clientFlags
	out string
}

// Run writes the whole log, up to the latest checkpoint, as an archive
// that `verify archive` checks offline.
func (c *exportArchiveCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("export archive")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.StringVar(&c.out, "out", "", "directory to create (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.out == "" || fs.NArg() > 0 {
		return fmt.Errorf("export archive: usage: export archive --out DIR")
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	latest, err := cl.GetCheckpoint(ctx, 0)
	if err != nil {
		return err
	}
	w, err := tlog.CreateArchive(c.out)
	if err != nil {
		return err
	}
	var cps int
	for start := int64(0); ; {
		page, err := cl.ListCheckpoints(ctx, start, 1000)
		if err != nil {
			return err
		}
		for _, cp := range page.Checkpoints {
			if cp.TreeSize > latest.TreeSize {
				continue
			}
			if err := w.AddCheckpoint(uint64(cp.TreeSize), []byte(cp.SignedNote)); err != nil {
				return err
			}
			cps++
			start = cp.TreeSize + 1
		}
		if len(page.Checkpoints) < 1000 {
			break
		}
	}
	for seq := int64(0); seq < latest.TreeSize; {
		page, err := cl.ListLogEntries(ctx, seq, 1000)
		if err != nil {
			return err
		}
		if len(page.Entries) == 0 {
			return fmt.Errorf("export archive: the server has no event at seq %d below checkpoint size %d", seq, latest.TreeSize)
		}
		for _, e := range page.Entries {
			if e.Seq >= latest.TreeSize {
				break
			}
			// The archive keeps what the log holds, even if it no longer
			// verifies: that is for verify archive to find and name.
			if err := w.AddEntry(uint64(e.Seq), e.Salt, e.StoredEvent, e.LeafHash); err != nil {
				return err
			}
			seq = e.Seq + 1
		}
		fmt.Fprintf(c.env.stderr, "exported %d/%d events\n", seq, latest.TreeSize)
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.env.stdout, "archive %s: %d events, %d checkpoints, origin %s\n", c.out, latest.TreeSize, cps, latest.Origin)
	return nil
}
