package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/audittrail/audittrail/client"
)

const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags every client command shares.
type clientFlags struct {
	server, token, data       string
	caCert, certFile, keyFile string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "server URL (default: $AUDITTRAIL_SERVER, else http://127.0.0.1:8080)")
	fs.StringVar(&c.token, "token", "", "bearer token (default: $AUDITTRAIL_TOKEN, else the local server's admin token)")
	fs.StringVar(&c.data, "data", "./data", "data directory of a local server, to find its admin token")
	fs.StringVar(&c.caCert, "ca-cert", "", "CA bundle (PEM) that signed an https server's certificate (default: the system's)")
	fs.StringVar(&c.certFile, "client-cert", "", "client certificate (PEM) for mutual TLS")
	fs.StringVar(&c.keyFile, "client-key", "", "client certificate's private key (PEM), with --client-cert")
}

// httpClient is nil (the SDK's default) unless TLS options are given.
func (c *clientFlags) httpClient() (*http.Client, error) {
	if c.caCert == "" && c.certFile == "" && c.keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caCert != "" {
		pem, err := os.ReadFile(c.caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert: no PEM certificate in %s", c.caCert)
		}
	}
	if c.certFile != "" || c.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--client-cert/--client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr}, nil
}

// client builds an API client. The token is, in order: --token,
// $AUDITTRAIL_TOKEN, the admin token that a local server registered for this
// address, or <--data>/admin.token.
func (c *clientFlags) client(e *env) (*client.Client, error) {
	c.serverURL(e)
	tok := c.token
	if tok == "" {
		tok = e.getenv("AUDITTRAIL_TOKEN")
	}
	if tok == "" {
		tok = c.localAdminToken()
	}
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	return client.New(c.server, strings.TrimSpace(tok), hc)
}

// serverURL resolves --server: the flag, else $AUDITTRAIL_SERVER, else the
// local default.
func (c *clientFlags) serverURL(e *env) string {
	if c.server == "" {
		c.server = e.getenv("AUDITTRAIL_SERVER")
	}
	if c.server == "" {
		c.server = defaultServer
	}
	return c.server
}

func (c *clientFlags) localAdminToken() string {
	if u, err := url.Parse(c.server); err == nil {
		if p, err := localServerFile(u.Host); err == nil {
			if path, err := os.ReadFile(p); err == nil {
				if tok, err := os.ReadFile(strings.TrimSpace(string(path))); err == nil {
					return string(tok)
				}
			}
		}
	}
	tok, _ := os.ReadFile(filepath.Join(c.data, adminTokenFile))
	return string(tok)
}

// localServerFile is where a server listening on a loopback address records
// the path of its admin token, so that the CLI on the same machine finds it
// whatever --data the server was given. The file holds a path, never a token.
func localServerFile(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "audittrail", "local-servers", strings.NewReplacer(":", "_", "[", "", "]", "").Replace(host)+"_"+port), nil
}

func registerLocalServer(addr, tokenPath string, log *slog.Logger) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return
	}
	p, err := localServerFile(addr)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(p), 0o700)
	}
	if err == nil {
		err = os.WriteFile(p, []byte(tokenPath+"\n"), 0o600)
	}
	if err != nil {
		log.Debug("could not record the admin token path for local CLI use", "err", err)
	}
}

func parseKV(flagName string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--%s %q: must be key=value", flagName, kv)
		}
		m[k] = v
	}
	return m, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// optionalFlag is a string flag with presence: nil until given, so that
// `--workspace ”` sends a set "" (a real filter value) while leaving the
// flag out sends nothing.
type optionalFlag struct{ v *string }

func (o *optionalFlag) String() string {
	if o == nil || o.v == nil {
		return ""
	}
	return *o.v
}
func (o *optionalFlag) Set(v string) error { o.v = &v; return nil }

// parseInterspersed parses flags that may come before or after positional
// arguments (`event get ID --server URL`) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
