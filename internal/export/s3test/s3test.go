// Package s3test runs a real S3 server process for tests: versitygw
// (github.com/versity/versitygw, its posix backend with versioning, so
// that Object Lock is enforced). Without the binary, tests skip with a
// message, except under CI=true, where they fail.
package s3test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/audittrail/audittrail/internal/testnote"
)

// Credentials of the server's root account.
const (
	AccessKey = "audittrail-test"
	SecretKey = "audittrail-test-secret"
)

// Install is how .ci/run installs the server.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is one versitygw process on a fixed address, so that it can be
// stopped and started again there.
type Server struct {
	t         testing.TB
	bin, root string
	Addr      string
	cmd       *exec.Cmd
}

func binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	why := "S3 suites: need versitygw (" + Install + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	testnote.Skip(t, why)
	return ""
}

// New returns a stopped server with an empty data directory; it is killed
// at cleanup.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t), root: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	l.Close()
	for _, d := range []string{"data", "versions", "meta"} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Start runs the server and waits until it listens.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", s.Addr, "--access", AccessKey, "--secret", SecretKey, "--quiet",
		"posix", "--versioning-dir", filepath.Join(s.root, "versions"), "--sidecar", filepath.Join(s.root, "meta"), filepath.Join(s.root, "data"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if i > 100 {
			s.t.Fatalf("versitygw did not listen on %s", s.Addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server (S3 down).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		s.cmd = nil
	}
}

// URL is the endpoint.
func (s *Server) URL() string { return "http://" + s.Addr }

// Client is an SDK client of the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")})
}

// CreateBucket creates bucket, with Object Lock enabled when asked.
func (s *Server) CreateBucket(bucket string, objectLock bool) {
	s.t.Helper()
	_, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(objectLock)})
	if err != nil {
		s.t.Fatalf("create bucket %s: %v", bucket, err)
	}
}
