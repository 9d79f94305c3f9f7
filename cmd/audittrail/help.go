package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// command describes one command for its help and for shell completion.
type command struct {
	usage    string   // the arguments after the command words
	summary  string   // one line
	examples []string // shell lines
}

// commands are every command, by their words.
var commands = map[string]command{
	"serve": {"[flags]", "run the server: gRPC and REST on one port, the embedded store in --data unless --store says otherwise",
		[]string{"audittrail serve", "audittrail serve --addr 0.0.0.0:8080 --data /var/lib/audittrail", "audittrail serve --store postgres://audittrail@db:5432/audittrail --signing-key /run/secrets/log.key"}},
	"migrate": {"--store postgres://…", "apply the PostgreSQL schema migrations and exit",
		[]string{"audittrail migrate --store postgres://audittrail@db:5432/audittrail"}},
	"event create": {"[flags] | --file event.json", "store one event and print it as stored",
		[]string{"audittrail event create --source billing --action actions/billing/invoices/CREATE --principal services/billing --ip 10.1.2.3 --resource //billing/workspaces/w1/invoices/7 --metadata env=prod"}},
	"event batch-create": {"--file events.jsonl", "store events from a JSON lines file, 1000 per call; failures are reported by line",
		[]string{"audittrail event batch-create --file events.jsonl"}},
	"event search": {"[flags]", "search events, newest first (one page, or --all)",
		[]string{"audittrail event search --since 24h --principal-regex '^users/00' --all -o jsonl", "audittrail event search --workspace '' --since 1h   # events without a workspace"}},
	"event get": {"ID|events/ID", "show one event",
		[]string{"audittrail event get 0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b"}},
	"event tail": {"[flags]", "print new matching events as they arrive",
		[]string{"audittrail event tail --principal-regex '^services/' -o jsonl"}},
	"log key": {"", "print the integrity log's public key (alone on the last line)",
		[]string{"KEY=$(audittrail log key | tail -1)"}},
	"log checkpoint": {"[--size N]", "print the latest signed checkpoint, or the one kept for a tree size",
		[]string{"audittrail log checkpoint"}},
	"verify event": {"NAME --key K", "check an event's inclusion proof against a signed checkpoint",
		[]string{"audittrail verify event events/0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b --key \"$KEY\""}},
	"verify log": {"--key K --state FILE", "check that the log only grew since the last run (a monitor for cron)",
		[]string{"audittrail verify log --key \"$KEY\" --state monitor.state"}},
	"verify archive": {"DIR | --s3 s3://BUCKET/PREFIX --key K", "verify an exported archive or a sink's bucket (or a copy of it) offline",
		[]string{"audittrail verify archive archive/ --key \"$KEY\"", "audittrail verify archive --s3 s3://audit/prod --s3-endpoint http://127.0.0.1:7070 --key \"$KEY\""}},
	"sink list":   {"", "list the server's export sinks (admin only)", []string{"audittrail sink list"}},
	"sink status": {"", "show each export sink's cursor, lag and latest failure (admin only)", []string{"audittrail sink status"}},
	"export archive": {"--out DIR", "write the whole log (events, checkpoints) for offline verification",
		[]string{"audittrail export archive --out archive/"}},
	"token create": {"--principal services/NAME [--expires 90d] [--login-name N]", "issue a service token (admin only; the secret is on the last line)",
		[]string{"audittrail token create --principal services/billing --expires 90d"}},
	"token list": {"", "list issued tokens (never their secrets)", []string{"audittrail token list"}},
	"token revoke": {"--principal P | --id ID", "revoke tokens; they answer 401 at once",
		[]string{"audittrail token revoke --principal services/billing"}},
	"health": {"[--server URL] [--timeout D]", "exit 0 when the server is ready (GET /readyz, no token), 1 with the cause: for container health checks",
		[]string{"audittrail health --server http://127.0.0.1:8080"}},
	"completion": {"bash|zsh|fish", "print a shell completion script",
		[]string{"source <(audittrail completion bash)", "audittrail completion fish > ~/.config/fish/completions/audittrail.fish"}},
}

// groups are the first words of two-word commands.
var groups = map[string]string{
	"event":  "create, search and read events",
	"log":    "the integrity log's key and checkpoints",
	"verify": "check proofs and archives offline",
	"export": "export the log",
	"token":  "server-issued service tokens",
	"sink":   "export sinks of the running server",
}

// newFlagSet returns the flag set of a command, whose -h prints the
// command's summary, usage and examples before its flags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		if !slices.ContainsFunc(os.Args[1:], isHelp) {
			// A parse error: the flag package printed it; point to help.
			fmt.Fprintf(w, "Run \"audittrail %s -h\" for its flags and examples.\n", name)
			return
		}
		c := commands[name]
		fmt.Fprintf(w, "audittrail %s: %s\n\nUsage:\n  audittrail %s %s\n", name, c.summary, name, c.usage)
		if len(c.examples) > 0 {
			fmt.Fprintf(w, "\nExamples:\n")
			for _, e := range c.examples {
				fmt.Fprintf(w, "  %s\n", e)
			}
		}
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// flagError is a flag parse error that the flag package printed already.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

// parseFlags parses args, marking errors other than -h as printed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return flagError{err}
	}
	return err
}

// groupHelp prints the commands of a group.
func groupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "audittrail %s: %s\n\nCommands:\n", group, groups[group])
	for _, name := range commandNames() {
		if sub, ok := strings.CutPrefix(name, group+" "); ok {
			fmt.Fprintf(w, "  %-14s %s\n", sub, commands[name].summary)
		}
	}
	fmt.Fprintf(w, "\nRun \"audittrail %s COMMAND -h\" for a command's flags and examples.\n", group)
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// completion prints a completion script for shell. Commands come from the
// table above; flags are asked of the binary itself (`audittrail CMD -h`),
// so the script never goes stale.
func completion(w io.Writer, shell string) error {
	var top []string
	subs := map[string][]string{}
	for _, name := range commandNames() {
		first, sub, two := strings.Cut(name, " ")
		if !two {
			top = append(top, first)
			continue
		}
		if len(subs[first]) == 0 {
			top = append(top, first)
		}
		subs[first] = append(subs[first], sub)
	}
	sort.Strings(top)
	flagsOf := `audittrail $cmd -h 2>&1 | sed -n 's/^  -\([a-z][a-z0-9-]*\).*/--\1/p'`
	switch shell {
	case "bash":
		fmt.Fprintf(w, "# bash completion for audittrail: source <(audittrail completion bash)\n_audittrail() {\n")
		fmt.Fprintf(w, "  local cur=${COMP_WORDS[COMP_CWORD]} cmd\n  case $COMP_CWORD in\n")
		fmt.Fprintf(w, "  1) COMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n  2) case ${COMP_WORDS[1]} in\n", strings.Join(top, " "))
		for _, g := range sortedKeys(subs) {
			fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n", g, strings.Join(subs[g], " "))
		}
		fmt.Fprintf(w, "    esac;;\n  esac\n  cmd=${COMP_WORDS[1]}\n")
		fmt.Fprintf(w, "  case ${COMP_WORDS[1]} in %s) cmd=\"${COMP_WORDS[1]} ${COMP_WORDS[2]}\";; esac\n", strings.Join(sortedKeys(subs), "|"))
		fmt.Fprintf(w, "  [[ $cur == -* ]] && COMPREPLY=($(compgen -W \"$(%s)\" -- \"$cur\"))\n}\ncomplete -o default -F _audittrail audittrail\n", flagsOf)
	case "zsh":
		fmt.Fprintf(w, "#compdef audittrail\n# zsh completion for audittrail: audittrail completion zsh > \"${fpath[1]}/_audittrail\"\n")
		fmt.Fprintf(w, "_audittrail() {\n  local cmd\n  if (( CURRENT == 2 )); then compadd %s; return; fi\n  case $words[2] in\n", strings.Join(top, " "))
		for _, g := range sortedKeys(subs) {
			fmt.Fprintf(w, "    %s) if (( CURRENT == 3 )); then compadd %s; return; fi; cmd=\"$words[2] $words[3]\";;\n", g, strings.Join(subs[g], " "))
		}
		fmt.Fprintf(w, "    *) cmd=$words[2];;\n  esac\n  [[ $PREFIX == -* ]] && compadd -- $(eval \"%s\")\n  _files\n}\ncompdef _audittrail audittrail\n", flagsOf)
	case "fish":
		fmt.Fprintf(w, "# fish completion for audittrail: audittrail completion fish > ~/.config/fish/completions/audittrail.fish\n")
		fmt.Fprintf(w, "complete -c audittrail -f -n '__fish_use_subcommand' -a %q\n", strings.Join(top, " "))
		for _, g := range sortedKeys(subs) {
			fmt.Fprintf(w, "complete -c audittrail -f -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %q\n",
				g, strings.Join(subs[g], " "), strings.Join(subs[g], " "))
		}
	default:
		return fmt.Errorf("completion: %q: want bash, zsh or fish", shell)
	}
	return nil
}

func sortedKeys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
