// Command audittrail is the audit-trail server and its command-line client.
//
//	audittrail serve                       run the server
//	audittrail event create|batch-create|search|get|tail
//	audittrail log key|checkpoint
//	audittrail verify event|log|archive
//	audittrail export archive
//	audittrail token create|list|revoke
//	audittrail migrate
//
// Run `audittrail COMMAND -h` for the flags of each command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/audittrail/audittrail/internal/version"
)

// Set for releases with -ldflags "-X main.releaseVersion=v1.2.0
// -X main.releaseCommit=… -X main.releaseBuildTime=…"; when empty, the
// build's VCS stamp is used.
var releaseVersion, releaseCommit, releaseBuildTime string

// buildVersion is what GET /version answers and --version prints.
func buildVersion() version.Info {
	return version.FromBuild(version.Overrides{Version: releaseVersion, Commit: releaseCommit, BuildTime: releaseBuildTime})
}

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// env is what a command may touch of the process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usage = `audittrail: a compliance-grade audit trail

Usage:
  audittrail serve [flags]                 run the server
  audittrail event create [flags]          store one event
  audittrail event batch-create --file F   store events from a JSONL file
  audittrail event search [flags]          search events
  audittrail event get ID                  show one event
  audittrail event tail [flags]            print new events as they arrive
  audittrail log key                       print the integrity log's public key (last line)
  audittrail log checkpoint [--size N]     print a signed checkpoint
  audittrail verify event NAME --key K     check an event's inclusion proof
  audittrail verify log --key K --state F  check the log only grew since the last run (monitor)
  audittrail export archive --out DIR      write the whole log for offline verification
  audittrail verify archive DIR --key K    verify an archive (or a sink's bucket copy) offline
  audittrail verify archive --s3 s3://B/P --key K
                                           verify a sink's archive in a bucket
  audittrail sink list | sink status       the server's export sinks, their cursors and lag
  audittrail migrate --store postgres://…  apply the PostgreSQL schema migrations
  audittrail health [--server URL]         exit 0 when the server is ready (/readyz), 1 with the cause
  audittrail token create --principal services/NAME [--expires 90d] [--login-name N]
                                           issue a service token (admin; secret on the last line)
  audittrail token list                    list issued tokens
  audittrail token revoke --principal P | --id ID
                                           revoke tokens; they answer 401 at once

  audittrail completion bash|zsh|fish      print a shell completion script
  audittrail --version                     print the version (as GET /version answers it)

Run "audittrail COMMAND -h" for a command's flags and examples, "audittrail event -h" for a group's
commands. Client commands take --server (default $AUDITTRAIL_SERVER, else http://127.0.0.1:8080) and
--token (default $AUDITTRAIL_TOKEN, else a local server's admin token).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	err := run(ctx, e, os.Args[1:])
	var ee exitError
	var fe flagError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.As(err, &fe):
		os.Exit(2) // printed by the flag package, with a pointer to -h
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "audittrail:", err)
		if hint := errorHint(err); hint != "" {
			fmt.Fprintln(os.Stderr, "audittrail: hint:", hint)
		}
		os.Exit(1)
	}
}

// sub returns the subcommand word, or "" when there is none.
func sub(args []string) string {
	if len(args) < 2 {
		return ""
	}
	return args[1]
}

func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitError{2}
	}
	if g := groups[args[0]]; g != "" && (len(args) == 1 || isHelp(args[1])) {
		groupHelp(e.stderr, args[0])
		if len(args) == 1 {
			return exitError{2}
		}
		return nil
	}
	switch args[0] {
	case "completion":
		if len(args) != 2 || isHelp(args[1]) {
			c := commands["completion"]
			fmt.Fprintf(e.stderr, "audittrail completion: %s\n\nUsage:\n  audittrail completion %s\n\nExamples:\n  %s\n", c.summary, c.usage, strings.Join(c.examples, "\n  "))
			if len(args) == 2 {
				return nil
			}
			return exitError{2}
		}
		return completion(e.stdout, args[1])
	case "serve":
		return (&serveCommand{env: e}).Run(ctx, args[1:])
	case "event":
		switch sub(args) {
		case "create":
			return (&createCommand{env: e}).Run(ctx, args[2:])
		case "batch-create":
			return (&batchCreateCommand{env: e}).Run(ctx, args[2:])
		case "search":
			return (&searchCommand{env: e}).Run(ctx, args[2:])
		case "get":
			return (&getCommand{env: e}).Run(ctx, args[2:])
		case "tail":
			return (&tailCommand{env: e}).Run(ctx, args[2:])
		}
	case "log":
		switch sub(args) {
		case "key":
			return (&logKeyCommand{env: e}).Run(ctx, args[2:])
		case "checkpoint":
			return (&logCheckpointCommand{env: e}).Run(ctx, args[2:])
		}
	case "verify":
		switch sub(args) {
		case "event":
			return (&verifyEventCommand{env: e}).Run(ctx, args[2:])
		case "log":
			return (&verifyLogCommand{env: e}).Run(ctx, args[2:])
		case "archive":
			return (&verifyArchiveCommand{env: e}).Run(ctx, args[2:])
		}
	case "migrate":
		return (&migrateCommand{env: e}).Run(ctx, args[1:])
	case "health":
		return (&healthCommand{env: e}).Run(ctx, args[1:])
	case "token":
		tc := &tokenCommand{env: e}
		switch sub(args) {
		case "create":
			return tc.Create(ctx, args[2:])
		case "list":
			return tc.List(ctx, args[2:])
		case "revoke":
			return tc.Revoke(ctx, args[2:])
		}
	case "sink":
		sc := &sinkCommand{env: e}
		switch sub(args) {
		case "list":
			return sc.List(ctx, args[2:])
		case "status":
			return sc.Status(ctx, args[2:])
		}
	case "export":
		if sub(args) == "archive" {
			return (&exportArchiveCommand{env: e}).Run(ctx, args[2:])
		}
	case "--version", "-version", "version":
		fmt.Fprintln(e.stdout, buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	fmt.Fprintf(e.stderr, "audittrail: unknown command %q\n\n%s", args, usage)
	return exitError{2}
}
