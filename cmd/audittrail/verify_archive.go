package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/export"
	"github.com/audittrail/audittrail/internal/tlog"
)

type verifyArchiveCommand struct {
	env             *env
	key             string
	prefix          string
	s3              s3Flags
	s3URL           string
	allowUndigested bool
}

// Run verifies an archive fully offline: either a directory written by
// `export archive`, or an S3 archive sink's layout (docs/EXPORT.md), read
// from a local copy of the bucket prefix or, with --s3, from the bucket.
// It prints a summary, or each bad object, event or checkpoint and why
// (exit status 1).
func (c *verifyArchiveCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("verify archive")
	fs.SetOutput(c.env.stderr)
	fs.StringVar(&c.key, "key", "", "the log's public key (required)")
	fs.StringVar(&c.s3URL, "s3", "", "read the archive sink's objects from s3://BUCKET[/PREFIX] instead of a directory")
	fs.StringVar(&c.prefix, "prefix", "", "the sink's prefix inside DIR (when DIR holds more than the prefix)")
	fs.BoolVar(&c.allowUndigested, "allow-undigested", false, "accept objects that no digest lists yet (a running sink's newest objects)")
	c.s3.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if c.key == "" || (len(pos) == 1) == (c.s3URL != "") || len(pos) > 1 {
		return fmt.Errorf("verify archive: usage: verify archive DIR --key PUBKEY, or verify archive --s3 s3://BUCKET/PREFIX --key PUBKEY")
	}
	v, err := note.NewVerifier(c.key)
	if err != nil {
		return fmt.Errorf("verify archive: --key: %w", err)
	}
	var objs export.Objects
	prefix := c.prefix
	switch {
	case c.s3URL != "":
		bucket, p, err := export.ParseS3URL(c.s3URL)
		if err != nil {
			return fmt.Errorf("verify archive: --s3: %w", err)
		}
		if objs, err = c.s3.objects(bucket, c.env.getenv); err != nil {
			return fmt.Errorf("verify archive: %w", err)
		}
		prefix = p
	default:
		if _, err := os.Stat(filepath.Join(pos[0], tlog.ArchiveEvents)); err == nil {
			return c.exported(pos[0], v)
		}
		d, err := export.NewDir(pos[0])
		if err != nil {
			return err
		}
		objs = d
	}
	r, err := export.VerifyBucket(ctx, objs, prefix, v)
	if err != nil {
		return fmt.Errorf("verify archive: %w", err)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(c.env.stdout, "BAD", p)
	}
	for _, k := range r.Undigested {
		fmt.Fprintln(c.env.stdout, "UNDIGESTED", k, "(listed in no digest: added, or written after the last digest)")
	}
	fmt.Fprintln(c.env.stdout, r.Summary())
	if !r.OK(c.allowUndigested) {
		return exitError{1}
	}
	return nil
}

// exported verifies a directory written by `export archive`.
func (c *verifyArchiveCommand) exported(dir string, v note.Verifier) error {
	r, err := tlog.VerifyArchive(dir, v)
	if err != nil {
		return fmt.Errorf("verify archive: %w", err)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(c.env.stdout, "BAD", p)
	}
	fmt.Fprintln(c.env.stdout, r.Summary())
	if !r.OK() {
		return exitError{1}
	}
	return nil
}
