package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEExamples runs the README's ```sh blocks, in order, in one shell
// against a real server, as a reader would paste them: in a directory
// whose data/ is the server's, with `audittrail` on the PATH. Any command
// that fails, and any curl that gets an HTTP error, fails the test, so the
// examples cannot rot. (```shell blocks are not run: they start servers or
// need machines the test does not have.)
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d sh blocks in the README", len(blocks))
	}
	work := t.TempDir()
	data := filepath.Join(work, "data")
	s := startServer(t, data)
	bin := t.TempDir()
	if err := os.Symlink(binaryPath, filepath.Join(bin, "audittrail")); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	// curl answers errors with exit 22 and the body; the rest is the README.
	script.WriteString("set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n")
	for _, blk := range blocks {
		script.WriteString(strings.ReplaceAll(blk[1], "127.0.0.1:8080", s.addr))
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "HOME="+data, "AUDITTRAIL_SERVER=http://"+s.addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README examples: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"event":{"name":"events/`,        // create answers {event}
		`"failedRequests":{"1":{"code":3`, // the batch's invalid request
		`"sourceIpAddress":"private"`,     // 10.0.0.1 stored as private
		"verified events/",                // verify event
		"checkpoints", "events valid",     // verify archive
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README output lacks %q:\n%s", want, out)
		}
	}
}
