package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{t: t, cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key in PEM.
func (ca *testCA) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) clientCert(cn string, uri string) tls.Certificate {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if uri != "" {
		u, _ := url.Parse(uri)
		tmpl.URIs = []*url.URL{u}
	}
	c, k := ca.issue(tmpl)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		ca.t.Fatal(err)
	}
	return pair
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "audittrail test CA")
	srvCert, srvKey := ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "audittrail"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	caFile := writeFile(t, dir, "ca.pem", ca.pem)
	policy := writeFile(t, dir, "policy.yaml", []byte("bindings:\n  - principals: [services/ingest]\n    permissions: [events.create, events.read]\n  - principals: [services/reporter]\n    permissions: [events.read]\n"))
	s := startServer(t, "", "--tls-cert", writeFile(t, dir, "srv.pem", srvCert), "--tls-key", writeFile(t, dir, "srv.key", srvKey),
		"--client-ca", caFile, "--policy", policy)
	if !strings.Contains(s.log.String(), "on https://") {
		t.Fatalf("no https address printed:\n%s", s.log)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	do := func(c *http.Client, token, method, path string, body any) (int, map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, "https://"+s.addr+path, bytes.NewReader(b))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, nil
	}
	ingest := ca.clientCert("ignored-when-uri", "spiffe://example.org/ns/prod/sa/ingest")
	reporter := ca.clientCert("reporter", "")
	rogue := newTestCA(t, "rogue").clientCert("ingest", "spiffe://example.org/ns/prod/sa/ingest")

	id := newID()
	if code, body, err := do(clientWith(ingest), "", "POST", "/v1/events?event_id="+id, ev(nil)); err != nil || code != 200 {
		t.Fatalf("create with the SPIFFE client certificate: %d %v %v", code, body, err)
	}
	if code, body, err := do(clientWith(reporter), "", "POST", "/v1/events?event_id="+newID(), ev(nil)); err != nil || code != 403 {
		t.Fatalf("create with the reader's CN certificate: %d %v %v, want 403", code, body, err)
	}
	if code, _, err := do(clientWith(reporter), "", "GET", "/v1/events/"+id, nil); err != nil || code != 200 {
		t.Fatalf("read with the CN certificate: %d %v", code, err)
	}
	if code, _, err := do(clientWith(), "", "GET", "/v1/events/"+id, nil); err != nil || code != 401 {
		t.Fatalf("no certificate, no token: %d %v, want 401", code, err)
	}
	if code, _, err := do(clientWith(), s.token, "GET", "/v1/events/"+id, nil); err != nil || code != 200 {
		t.Fatalf("bearer token over TLS: %d %v", code, err)
	}
	// Go's client offers only certificates of the CAs the server names;
	// force the rogue one so the server has to refuse it.
	forced := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }}}}
	if code, body, err := do(forced, "", "GET", "/v1/events/"+id, nil); err == nil {
		t.Fatalf("a certificate from another CA was accepted: %d %v", code, body)
	}
	if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP on a TLS listener: HTTP %d, want 400", resp.StatusCode)
	}

	// gRPC over TLS with the client certificate.
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{ingest}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pb.NewEventServiceClient(conn).SearchEvents(t.Context(), &pb.SearchEventsRequest{}); err != nil {
		t.Fatalf("gRPC search with the client certificate: %v", err)
	}
	// The search was recorded under the certificate's principal.
	code, body, _ := do(clientWith(), s.token, "POST", "/v1/events:search", map[string]any{"filter": map[string]any{"principalExact": "services/ingest", "actionExact": "actions/audittrail/events/SEARCH"}})
	if code != 200 || len(body["events"].([]any)) != 1 {
		t.Fatalf("self-audit of the certificate's search: %d %v", code, body)
	}

	// The CLI talks TLS too.
	out, errOut, exit := s.cli("", "event", "get", id, "--server", "https://"+s.addr, "--ca-cert", caFile, "--token", s.token)
	if exit != 0 || !strings.Contains(out, id) {
		t.Fatalf("CLI over TLS: exit %d %s %s", exit, out, errOut)
	}
}
