package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
)

func TestCertPrincipal(t *testing.T) {
	tests := []struct {
		name, cn, uri, want string
	}{
		{"spiffe uri wins", "other", "spiffe://example.org/ns/prod/sa/billing", "services/billing"},
		{"cn fallback", "reporter", "", "services/reporter"},
		{"non-spiffe uri ignored", "reporter", "https://example.org/x", "services/reporter"},
		{"spiffe without path falls back", "reporter", "spiffe://example.org", "services/reporter"},
		{"cn with space", "John Doe", "", ""},
		{"cn with slash", "a/b", "", ""},
		{"nothing", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &x509.Certificate{Subject: pkix.Name{CommonName: tt.cn}}
			if tt.uri != "" {
				u, err := url.Parse(tt.uri)
				if err != nil {
					t.Fatal(err)
				}
				c.URIs = []*url.URL{u}
			}
			if got := certPrincipal(c); got != tt.want {
				t.Fatalf("certPrincipal = %q, want %q", got, tt.want)
			}
		})
	}
}
