package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/export"
	"github.com/audittrail/audittrail/internal/export/format"
	"github.com/audittrail/audittrail/internal/store"
)

// sinkConfig is one entry of the config file's `sinks:` list
// (docs/EXPORT.md).
type sinkConfig struct {
	Name string `yaml:"name"`
	// Type is s3-archive, parquet or webhook.
	Type string `yaml:"type"`
	// Exactly one destination: an S3 bucket or a local directory (object
	// sinks), or a webhook.
	S3      *s3SinkConfig `yaml:"s3"`
	Dir     string        `yaml:"dir"`
	Webhook *struct {
		URL        string `yaml:"url"`
		SecretFile string `yaml:"secret_file"`
	} `yaml:"webhook"`
	NATS *struct {
		URL     string `yaml:"url"`
		Subject string `yaml:"subject"`
	} `yaml:"nats"`
	// Format of a streaming sink's events: native (default) or ocsf.
	Format string `yaml:"format"`
	Prefix string `yaml:"prefix"`
	Flush  struct {
		MaxEvents int           `yaml:"max_events"`
		MaxBytes  int           `yaml:"max_bytes"`
		MaxAge    time.Duration `yaml:"max_age"`
	} `yaml:"flush"`
	// DigestInterval is how often an s3-archive writes a digest (and at
	// shutdown); default 1h.
	DigestInterval time.Duration `yaml:"digest_interval"`
	Filter         struct {
		EventSources []string `yaml:"event_sources"`
		Actions      []string `yaml:"actions"`
		Workspaces   []string `yaml:"workspaces"`
	} `yaml:"filter"`
	line int
}

type s3SinkConfig struct {
	Bucket              string `yaml:"bucket"`
	Endpoint            string `yaml:"endpoint"`
	Region              string `yaml:"region"`
	PathStyle           bool   `yaml:"path_style"`
	AccessKeyID         string `yaml:"access_key_id"`
	AccessKeyIDEnv      string `yaml:"access_key_id_env"`
	SecretAccessKeyEnv  string `yaml:"secret_access_key_env"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	SessionTokenEnv     string `yaml:"session_token_env"`
	ObjectLock          *struct {
		Mode   string `yaml:"mode"`
		Retain string `yaml:"retain"`
	} `yaml:"object_lock"`
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// parseSinks decodes and checks the `sinks:` section; every error names
// the file and line.
func parseSinks(file string, n *yaml.Node) ([]sinkConfig, error) {
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("config %s line %d: sinks must be a list", file, n.Line)
	}
	var out []sinkConfig
	seen := map[string]int{}
	for _, item := range n.Content {
		if err := checkKeys(item, reflect.TypeFor[sinkConfig]()); err != nil {
			return nil, fmt.Errorf("config %s %w", file, err)
		}
		var sc sinkConfig
		if err := item.Decode(&sc); err != nil {
			return nil, fmt.Errorf("config %s line %d: sink: %w", file, item.Line, err)
		}
		sc.line = item.Line
		bad := func(format string, args ...any) error {
			return fmt.Errorf("config %s line %d: sink %q: %s", file, sc.line, sc.Name, fmt.Sprintf(format, args...))
		}
		switch {
		case !sinkName.MatchString(sc.Name):
			return nil, bad("name must be 1-63 of a-z, 0-9 and '-', starting with a letter or digit")
		case seen[sc.Name] != 0:
			return nil, bad("name already used by the sink at line %d", seen[sc.Name])
		case !slices.Contains([]string{"s3-archive", "parquet", "webhook", "nats"}, sc.Type):
			return nil, bad("type must be s3-archive, parquet, webhook or nats, got %q", sc.Type)
		case sc.Type == "nats" && (sc.NATS == nil || sc.NATS.URL == "" || sc.NATS.Subject == "" || sc.S3 != nil || sc.Dir != "" || sc.Webhook != nil):
			return nil, bad("a nats sink takes nats: {url, subject} and no other destination")
		case sc.Type == "webhook" && (sc.Webhook == nil || sc.S3 != nil || sc.Dir != ""):
			return nil, bad("a webhook sink takes a webhook: {url, secret_file} and no s3 or dir")
		case sc.Type == "webhook" && (sc.Webhook.URL == "" || sc.Webhook.SecretFile == ""):
			return nil, bad("webhook.url and webhook.secret_file are required")
		case (sc.Type == "s3-archive" || sc.Type == "parquet") && (sc.Webhook != nil || sc.NATS != nil || (sc.S3 == nil) == (sc.Dir == "")):
			return nil, bad("give exactly one destination: s3 (a bucket) or dir (a directory)")
		case sc.Format != "" && ((sc.Type != "webhook" && sc.Type != "nats") || (sc.Format != "native" && sc.Format != "ocsf")):
			return nil, bad("format is native or ocsf, for webhook and nats sinks only")
		case sc.Type == "s3-archive" && (len(sc.Filter.EventSources)+len(sc.Filter.Actions)+len(sc.Filter.Workspaces) > 0):
			return nil, bad("an s3-archive takes no filter: it must hold every event of the log to be verifiable")
		case sc.Flush.MaxEvents < 0 || sc.Flush.MaxBytes < 0 || sc.Flush.MaxAge < 0 || sc.DigestInterval < 0:
			return nil, bad("flush limits and digest_interval must not be negative")
		}
		for _, g := range slices.Concat(sc.Filter.EventSources, sc.Filter.Actions, sc.Filter.Workspaces) {
			if _, err := path.Match(g, ""); err != nil {
				return nil, bad("filter pattern %q: %v", g, err)
			}
		}
		seen[sc.Name] = sc.line
		out = append(out, sc)
	}
	return out, nil
}

// checkKeys refuses mapping keys that t (a struct, through pointers) has
// no yaml field for, naming the line: a misspelt key must not be ignored.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: must be a mapping", n.Line)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			fields[tag] = t.Field(i).Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		}
		if err := checkKeys(n.Content[i+1], ft); err != nil {
			return err
		}
	}
	return nil
}

// sinkSet runs the configured sinks.
type sinkSet struct {
	runners []*export.Runner
	sinks   []export.Sink // runners[i] runs sinks[i]
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

// Sinks implements server.SinkSource.
func (s *sinkSet) Sinks(ctx context.Context) []export.Status {
	out := make([]export.Status, len(s.runners))
	for i, r := range s.runners {
		out[i] = r.Current(ctx)
	}
	return out
}

// newSinkSet builds a runner per configured sink; nothing runs until start.
func newSinkSet(cfgs []sinkConfig, st store.Store, signerKey string, getenv func(string) string, log *slog.Logger, reg prometheus.Registerer, version string) (*sinkSet, error) {
	set := &sinkSet{}
	if len(cfgs) == 0 {
		return set, nil
	}
	signer, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, fmt.Errorf("sinks: signing key: %w", err)
	}
	m := export.NewMetrics(reg)
	for _, sc := range cfgs {
		opts := export.DefaultOptions()
		opts.Name, opts.Type, opts.Logger = sc.Name, sc.Type, log
		if sc.Flush.MaxEvents > 0 {
			opts.MaxEvents = sc.Flush.MaxEvents
		}
		if sc.Flush.MaxBytes > 0 {
			opts.MaxBytes = sc.Flush.MaxBytes
		}
		if sc.Flush.MaxAge > 0 {
			opts.MaxAge = sc.Flush.MaxAge
		}
		if sc.DigestInterval > 0 {
			opts.TickInterval = sc.DigestInterval
		}
		opts.Filter = sc.filter()
		var sink export.Sink
		switch sc.Type {
		case "webhook":
			if sink, err = sc.webhook(version); err != nil {
				return nil, err
			}
		case "nats":
			n, err := export.NewNATSSink(export.NATSConfig{URL: sc.NATS.URL, Subject: sc.NATS.Subject, Format: sc.formatter(version)})
			if err != nil {
				return nil, fmt.Errorf("sink %q (config line %d): %w", sc.Name, sc.line, err)
			}
			sink = n
		default:
			objs, err := sc.objects(getenv)
			if err != nil {
				return nil, err
			}
			sink = export.NewParquetSink(objs, sc.Prefix)
			if sc.Type == "s3-archive" {
				sink = export.NewArchiveSink(objs, st, signer, sc.Prefix)
			}
		}
		r, err := export.NewRunner(st, sink, m, opts)
		if err != nil {
			return nil, fmt.Errorf("sink %q (config line %d): %w", sc.Name, sc.line, err)
		}
		set.runners = append(set.runners, r)
		set.sinks = append(set.sinks, sink)
	}
	return set, nil
}

// start runs every sink until stopAndWait.
func (s *sinkSet) start(finalTimeout time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	for i, r := range s.runners {
		s.wg.Go(func() {
			r.Run(ctx, finalTimeout)
			// Sinks holding a connection (NATS) let it go once they stop.
			if c, ok := s.sinks[i].(interface{ Close() }); ok {
				c.Close()
			}
		})
	}
}

// stopAndWait stops the sinks: each delivers what it can and writes its
// final digest first.
func (s *sinkSet) stopAndWait() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

func (sc *sinkConfig) filter() func(*event.Event) bool {
	f := sc.Filter
	if len(f.EventSources)+len(f.Actions)+len(f.Workspaces) == 0 {
		return nil
	}
	match := func(globs []string, v string) bool {
		if len(globs) == 0 {
			return true
		}
		for _, g := range globs {
			if ok, _ := path.Match(g, v); ok {
				return true
			}
		}
		return false
	}
	return func(e *event.Event) bool {
		return match(f.EventSources, e.EventSource) && match(f.Actions, e.Action) && match(f.Workspaces, e.Workspace)
	}
}

// formatter renders events for a streaming sink in its format.
func (sc *sinkConfig) formatter(version string) export.Formatter {
	if sc.Format == "ocsf" {
		p := format.Product{Name: "audittrail", Vendor: "audittrail", Version: version}
		return func(r store.Record) ([]byte, error) { return format.OCSF(r, p, "") }
	}
	return format.Native
}

// webhook builds a webhook sink; its secret is read from a file.
func (sc *sinkConfig) webhook(version string) (*export.WebhookSink, error) {
	secret, err := os.ReadFile(sc.Webhook.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("sink %q (config line %d): webhook.secret_file: %w", sc.Name, sc.line, err)
	}
	w, err := export.NewWebhookSink(export.WebhookConfig{URL: sc.Webhook.URL, Secret: []byte(strings.TrimSpace(string(secret))), Format: sc.formatter(version)})
	if err != nil {
		return nil, fmt.Errorf("sink %q (config line %d): %w", sc.Name, sc.line, err)
	}
	return w, nil
}

// objects opens the sink's destination, reading credentials from the
// environment or files named in the config (never from the config itself).
func (sc *sinkConfig) objects(getenv func(string) string) (export.Objects, error) {
	if sc.Dir != "" {
		return export.NewDir(sc.Dir)
	}
	c := sc.S3
	cfg := export.S3Config{Bucket: c.Bucket, Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle, AccessKeyID: c.AccessKeyID}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("sink %q (config line %d): %s", sc.Name, sc.line, fmt.Sprintf(format, args...))
	}
	if c.AccessKeyIDEnv != "" {
		if cfg.AccessKeyID = getenv(c.AccessKeyIDEnv); cfg.AccessKeyID == "" {
			return nil, bad("s3.access_key_id_env: %s is not set", c.AccessKeyIDEnv)
		}
	}
	switch {
	case c.SecretAccessKeyEnv != "" && c.SecretAccessKeyFile != "":
		return nil, bad("give one of s3.secret_access_key_env and s3.secret_access_key_file")
	case c.SecretAccessKeyEnv != "":
		if cfg.SecretAccessKey = getenv(c.SecretAccessKeyEnv); cfg.SecretAccessKey == "" {
			return nil, bad("s3.secret_access_key_env: %s is not set", c.SecretAccessKeyEnv)
		}
	case c.SecretAccessKeyFile != "":
		b, err := os.ReadFile(c.SecretAccessKeyFile)
		if err != nil {
			return nil, bad("s3.secret_access_key_file: %v", err)
		}
		cfg.SecretAccessKey = strings.TrimSpace(string(b))
	}
	if c.SessionTokenEnv != "" {
		cfg.SessionToken = getenv(c.SessionTokenEnv)
	}
	if c.ObjectLock != nil {
		cfg.LockMode = c.ObjectLock.Mode
		d, err := parseDays(c.ObjectLock.Retain)
		if err != nil {
			return nil, bad("s3.object_lock.retain: %v", err)
		}
		cfg.LockRetain = d
	}
	o, err := export.NewS3(cfg)
	if err != nil {
		return nil, bad("%v", err)
	}
	return o, nil
}
