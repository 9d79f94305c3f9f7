package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCLI(t *testing.T) {
	s := startServer(t, "")
	srv := "--server=http://" + s.addr

	t.Run("create with flags finds the local admin token", func(t *testing.T) {
		out, errOut, code := s.cli("", "event", "create", srv, "--id", "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b",
			"--time", "2026-02-01T10:00:00Z", "--source", "cli-src", "--action", "actions/cli/CREATE",
			"--principal", "users/cli", "--ip", "10.2.3.4", "--read-only", "--status-code", "5",
			"--status-message", "nf", "--resource", "//x/workspaces/w7/r", "--user-agent", "ua",
			"--metadata", "env=prod", "--metadata", "team=a", "--param", "q=1", "--type", "system")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("output is not the stored event: %v\n%s", err, out)
		}
		for k, v := range map[string]any{"name": "events/0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b", "sourceIpAddress": "private", "workspace": "workspaces/w7", "type": "TYPE_SYSTEM", "readOnly": true} {
			if e[k] != v {
				t.Errorf("%s = %v, want %v", k, e[k], v)
			}
		}
		if md := e["metadata"].(map[string]any); md["team"] != "a" || e["requestParameters"].(map[string]any)["q"] != "1" {
			t.Errorf("metadata/params not stored: %v", e)
		}
	})
	t.Run("create invalid", func(t *testing.T) {
		_, errOut, code := s.cli("", "event", "create", srv, "--source", "s", "--action", "a", "--principal", "bob", "--ip", "8.8.8.8")
		if code == 0 || !strings.Contains(errOut, "principal: must be of the form") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("create from file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "e.json")
		os.WriteFile(f, []byte(`{"eventTime":"2026-02-01T11:00:00Z","eventSource":"file","action":"a/b","status":{"code":0},"principal":"services/f","sourceIpAddress":"1.1.1.1"}`), 0o600)
		out, errOut, code := s.cli("", "event", "create", srv, "--file", f)
		if code != 0 || !strings.Contains(out, `"eventSource": "file"`) {
			t.Errorf("exit %d: %s %s", code, out, errOut)
		}
	})
	t.Run("batch-create reports failures by line", func(t *testing.T) {
		var lines []string
		for i := range 2500 {
			lines = append(lines, fmt.Sprintf(`{"eventTime":"2026-02-01T09:00:00Z","eventSource":"batch","action":"a/%d","status":{"code":0},"principal":"users/b","sourceIpAddress":"8.8.8.8"}`, i))
		}
		lines[1200] = `{"eventTime":"2026-02-01T09:00:00Z","eventSource":"batch","action":"a","status":{"code":0},"principal":"nobody","sourceIpAddress":"8.8.8.8"}`
		lines[1700] = `not json`
		lines = append(lines, `{"event_id":"0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b","event":{"eventTime":"2026-02-01T09:00:00Z","eventSource":"batch","action":"a","status":{"code":0},"principal":"users/b","sourceIpAddress":"8.8.8.8"}}`)
		f := filepath.Join(t.TempDir(), "events.jsonl")
		os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		out, errOut, code := s.cli("", "event", "batch-create", srv, "--file", f)
		if code != 1 {
			t.Errorf("exit %d, want 1 when lines failed", code)
		}
		for _, want := range []string{"line 1201: code 3: principal", "line 1701: not a JSON object", "line 2501: code 6"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		if !strings.Contains(out, "2498 stored, 3 failed") || strings.Count(errOut, "progress:") != 3 {
			t.Errorf("stdout %q, progress lines %d", out, strings.Count(errOut, "progress:"))
		}
	})
	t.Run("search outputs", func(t *testing.T) {
		out, errOut, code := s.cli("", "event", "search", srv, "--start", "2026-02-01T00:00:00Z", "--until", "2026-02-02T00:00:00Z", "--source", "batch", "--all", "--page-size", "700", "-o", "jsonl")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if n := strings.Count(out, "\n"); n != 2498 {
			t.Errorf("--all -o jsonl printed %d lines, want 2498", n)
		}
		first := strings.SplitN(out, "\n", 2)[0]
		var e map[string]any
		if err := json.Unmarshal([]byte(first), &e); err != nil || e["eventSource"] != "batch" || e["eventTime"] == nil {
			t.Errorf("jsonl line is not a canonical event: %s", first)
		}
		out, _, code = s.cli("", "event", "search", srv, "--since", "3650d", "--principal-regex", "^users/cli$", "--read-only", "true", "--metadata", "env=prod", "--type", "system", "--status-regex", "^5$")
		if code != 0 || !strings.Contains(out, "PRINCIPAL") || !strings.Contains(out, "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b") || strings.Count(out, "\n") != 2 {
			t.Errorf("table output:\n%s", out)
		}
		out, _, code = s.cli("", "event", "search", srv, "--since", "3650d", "--source", "file", "-o", "json")
		if code != 0 || !strings.Contains(out, `"nextPageToken": ""`) {
			t.Errorf("json output:\n%s", out)
		}
		_, errOut, code = s.cli("", "event", "search", srv, "--action-regex", "(")
		if code == 0 || !strings.Contains(errOut, "filter.action_regex") {
			t.Errorf("bad regex: exit %d %s", code, errOut)
		}
	})
	t.Run("get", func(t *testing.T) {
		out, errOut, code := s.cli("", "event", "get", "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b", srv)
		if code != 0 || !strings.Contains(out, `"principal": "users/cli"`) {
			t.Errorf("exit %d %s %s", code, out, errOut)
		}
	})
	t.Run("token from data dir and env", func(t *testing.T) {
		os.RemoveAll(filepath.Join(s.data, ".config"))
		_, errOut, code := s.cli("", "event", "get", "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b", srv, "--data", s.data)
		if code != 0 {
			t.Errorf("--data: exit %d %s", code, errOut)
		}
		_, errOut, code = s.cli("", "event", "get", "0b9e2ad5-7a55-4c1e-8d4b-3f2a1c0e9d8b", srv, "--data", t.TempDir(), "--token", "wrong")
		if code == 0 || !strings.Contains(errOut, "HTTP 401") {
			t.Errorf("wrong token: exit %d %s", code, errOut)
		}
	})
}

func TestConfigFile(t *testing.T) {
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("audit-source: my-audit\nmax-clock-skew: 1h\n"), 0o600)
	s := startServer(t, data, "--config", cfg)
	// 30 minutes ahead is within the configured 1h skew.
	s.create(newID(), ev(map[string]any{"eventTime": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)}))
	s.rest("POST", "/v1/events:search", map[string]any{})
	code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": "my-audit"}})
	if code != 200 || len(body["events"].([]any)) != 1 {
		t.Errorf("audit-source from config not applied: %v", body)
	}
	os.WriteFile(cfg, []byte("addr: 1\nbogus: x\n"), 0o600)
	_, errOut, code := s.cli("", "serve", "--config", cfg, "--data", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, `unknown key "bogus"`) {
		t.Errorf("bad config: exit %d %s", code, errOut)
	}
}

func TestCLITail(t *testing.T) {
	s := startServer(t, "")
	cmd := exec.Command(binaryPath, "event", "tail", "--server=http://"+s.addr, "--interval", "100ms", "-o", "jsonl")
	cmd.Env = append(os.Environ(), "HOME="+s.data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond) // several polls happen
	id := newID()
	s.create(id, ev(map[string]any{"eventTime": time.Now().UTC().Format(time.RFC3339Nano)}))
	s.rest("POST", "/v1/events:search", map[string]any{}) // someone else's search is shown
	var gotCreated, gotOtherSearch bool
	deadline := time.After(10 * time.Second)
	for !(gotCreated && gotOtherSearch) {
		select {
		case e, ok := <-lines:
			if !ok {
				t.Fatal("tail exited")
			}
			if ua, _ := e["userAgent"].(string); strings.HasPrefix(ua, "audittrail-tail/") {
				t.Fatalf("tail printed the record of its own poll: %v", e)
			}
			if e["name"] == "events/"+id {
				if gotCreated {
					t.Fatal("event printed twice")
				}
				gotCreated = true
			}
			if e["action"] == "actions/audittrail/events/SEARCH" {
				gotOtherSearch = true
			}
		case <-deadline:
			t.Fatalf("tail did not show the new event (%v) and the other search (%v) within 10s", gotCreated, gotOtherSearch)
		}
	}
}

// TestCLIHelp: every command and group answers -h with a description and
// examples (exit 0), --server comes from $AUDITTRAIL_SERVER, a server that
// is not there gets a hint, and the completion scripts complete commands
// and flags.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{
		{"serve"}, {"migrate"}, {"health"}, {"event", "create"}, {"event", "batch-create"}, {"event", "search"}, {"event", "get"}, {"event", "tail"},
		{"log", "key"}, {"log", "checkpoint"}, {"verify", "event"}, {"verify", "log"}, {"verify", "archive"},
		{"export", "archive"}, {"token", "create"}, {"token", "list"}, {"token", "revoke"}, {"completion"},
	} {
		out, err := runBinary(append(args, "-h")...)
		if err != nil || !strings.Contains(out, "audittrail "+strings.Join(args, " ")+": ") || !strings.Contains(out, "Examples:") || (args[0] != "completion" && !strings.Contains(out, "Flags:")) {
			t.Errorf("%v -h: %v\n%s", args, err, out)
		}
	}
	for _, g := range []string{"event", "log", "verify", "export", "token"} {
		out, err := runBinary(g, "-h")
		if err != nil || !strings.Contains(out, "Commands:") {
			t.Errorf("%s -h: %v\n%s", g, err, out)
		}
	}
	out0, err := runBinary("event", "search", "--bogus")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || strings.Count(out0, "-bogus") != 1 || !strings.Contains(out0, `Run "audittrail event search -h"`) {
		t.Errorf("a bad flag: %v\n%s; want exit 2, the error once and a pointer to -h", err, out0)
	}
	cmd := exec.Command(binaryPath, "event", "get", newID())
	cmd.Env = append(os.Environ(), "AUDITTRAIL_SERVER=http://127.0.0.1:1", "AUDITTRAIL_TOKEN=x")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "127.0.0.1:1/v1/events") || !strings.Contains(string(out), "hint: is `audittrail serve` running at http://127.0.0.1:1?") {
		t.Errorf("AUDITTRAIL_SERVER and the hint: %v\n%s", err, out)
	}
	bashPath, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash for the completion check")
	}
	script, err := runBinary("completion", "bash")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(binaryPath, filepath.Join(dir, "audittrail")); err != nil {
		t.Fatal(err)
	}
	check := script + `
PATH=` + dir + `:$PATH
COMP_WORDS=(audittrail ev); COMP_CWORD=1; _audittrail; echo "1:${COMPREPLY[*]}"
COMP_WORDS=(audittrail event se); COMP_CWORD=2; _audittrail; echo "2:${COMPREPLY[*]}"
COMP_WORDS=(audittrail event search --principal-r); COMP_CWORD=3; _audittrail; echo "3:${COMPREPLY[*]}"
`
	got, err := exec.Command(bashPath, "-c", check).CombinedOutput()
	if err != nil || !strings.Contains(string(got), "1:event\n") || !strings.Contains(string(got), "2:search\n") || !strings.Contains(string(got), "3:--principal-regex\n") {
		t.Errorf("bash completion: %v\n%s", err, got)
	}
	for _, sh := range []string{"zsh", "fish"} {
		if s, err := runBinary("completion", sh); err != nil || !strings.Contains(s, "audittrail") {
			t.Errorf("completion %s: %v", sh, err)
		}
	}
}
