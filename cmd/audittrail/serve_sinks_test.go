package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSinks(t *testing.T) {
	const s3 = "    s3: {bucket: audit, endpoint: 'http://127.0.0.1:1', path_style: true}\n"
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"archive and parquet", "sinks:\n  - name: a\n    type: s3-archive\n" + s3 + "  - name: lake\n    type: parquet\n    dir: /tmp/lake\n    filter: {event_sources: ['svc-*']}\n", ""},
		{"unknown key", "sinks:\n  - name: a\n    type: s3-archive\n    flush: {max_event: 5}\n" + s3, "line 4: unknown key \"max_event\""},
		{"unknown nested key", "sinks:\n  - name: a\n    type: s3-archive\n    s3: {bucket: b, secret_key: x}\n", "line 4: unknown key \"secret_key\""},
		{"bad type", "sinks:\n  - name: a\n    type: kafka\n" + s3, "line 2: sink \"a\": type must be s3-archive, parquet, webhook or nats"},
		{"bad name", "sinks:\n  - name: A B\n    type: parquet\n    dir: /x\n", "line 2: sink \"A B\": name must be"},
		{"duplicate name", "sinks:\n  - {name: a, type: parquet, dir: /x}\n  - {name: a, type: parquet, dir: /y}\n", "line 3: sink \"a\": name already used by the sink at line 2"},
		{"two destinations", "sinks:\n  - name: a\n    type: parquet\n    dir: /x\n" + s3, "exactly one destination"},
		{"no destination", "sinks:\n  - {name: a, type: parquet}\n", "exactly one destination"},
		{"filtered archive", "sinks:\n  - name: a\n    type: s3-archive\n    filter: {actions: ['x']}\n" + s3, "an s3-archive takes no filter"},
		{"bad glob", "sinks:\n  - name: a\n    type: parquet\n    dir: /x\n    filter: {workspaces: ['[']}\n", "filter pattern \"[\""},
		{"not a list", "sinks: {name: a}\n", "line 1: sinks must be a list"},
		{"webhook", "sinks:\n  - name: siem\n    type: webhook\n    format: ocsf\n    webhook: {url: 'https://siem.example/hook', secret_file: /run/s}\n", ""},
		{"webhook without url", "sinks:\n  - name: siem\n    type: webhook\n    webhook: {secret_file: /run/s}\n", "webhook.url and webhook.secret_file are required"},
		{"webhook with a bucket", "sinks:\n  - name: siem\n    type: webhook\n    webhook: {url: 'https://x', secret_file: /s}\n" + s3, "no s3 or dir"},
		{"format on an archive", "sinks:\n  - name: a\n    type: s3-archive\n    format: ocsf\n" + s3, "for webhook and nats sinks only"},
		{"unknown format", "sinks:\n  - name: siem\n    type: webhook\n    format: cef\n    webhook: {url: 'https://x', secret_file: /s}\n", "format is native or ocsf"},
		{"nats", "sinks:\n  - name: bus\n    type: nats\n    format: ocsf\n    nats: {url: 'nats://127.0.0.1:4222', subject: audit.events}\n", ""},
		{"nats without subject", "sinks:\n  - name: bus\n    type: nats\n    nats: {url: 'nats://127.0.0.1:4222'}\n", "takes nats: {url, subject}"},
		{"bad duration", "sinks:\n  - name: a\n    type: parquet\n    dir: /x\n    flush: {max_age: soon}\n", "line 2: sink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tc.doc), 0o600)
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			node, err := applyConfigFile(fs, path)
			if err == nil {
				_, err = parseSinks(path, node)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path)):
				t.Fatalf("error %v, want it to name %s and say %q", err, path, tc.err)
			}
		})
	}
}

func TestSinkCredentials(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cr3t\n"), 0o600)
	env := map[string]string{"KEY": "AKIA1"}
	for _, tc := range []struct {
		name string
		s3   s3SinkConfig
		err  string
	}{
		{"env and file", s3SinkConfig{Bucket: "b", AccessKeyIDEnv: "KEY", SecretAccessKeyFile: secret}, ""},
		{"unset env", s3SinkConfig{Bucket: "b", AccessKeyIDEnv: "NOPE", SecretAccessKeyFile: secret}, "NOPE is not set"},
		{"missing file", s3SinkConfig{Bucket: "b", AccessKeyID: "k", SecretAccessKeyFile: filepath.Join(dir, "none")}, "secret_access_key_file"},
		{"key without secret", s3SinkConfig{Bucket: "b", AccessKeyID: "k"}, "go together"},
		{"both secrets", s3SinkConfig{Bucket: "b", AccessKeyID: "k", SecretAccessKeyEnv: "KEY", SecretAccessKeyFile: secret}, "give one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := sinkConfig{Name: "a", Type: "s3-archive", S3: &tc.s3, line: 7}
			_, err := sc.objects(func(k string) string { return env[k] })
			if (tc.err == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "line 7"))) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}
