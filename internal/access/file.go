package access

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PolicyFile is a policy loaded from a file and reloaded when asked (SIGHUP)
// or when the file changes. A file that fails to load leaves the previous
// policy in force.
type PolicyFile struct {
	path   string
	logger *slog.Logger

	mu      sync.Mutex // serialises reloads
	current atomic.Pointer[Policy]
	data    []byte
}

// LoadPolicyFile reads and parses path; the error names the file and line.
func LoadPolicyFile(path string, logger *slog.Logger) (*PolicyFile, error) {
	pf := &PolicyFile{path: path, logger: logger}
	if _, err := pf.Reload(); err != nil {
		return nil, err
	}
	return pf, nil
}

// Current is the policy in force.
func (pf *PolicyFile) Current() *Policy { return pf.current.Load() }

// Reload re-reads the file. It reports whether the policy changed; on error
// the previous policy stays in force.
func (pf *PolicyFile) Reload() (changed bool, err error) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	data, err := os.ReadFile(pf.path)
	if err != nil {
		return false, fmt.Errorf("access: policy %s: %w", pf.path, err)
	}
	if pf.current.Load() != nil && bytes.Equal(data, pf.data) {
		return false, nil
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return false, fmt.Errorf("access: policy %s: %w", pf.path, err)
	}
	pf.current.Store(p)
	pf.data = data
	return true, nil
}

// Watch polls the file every interval until ctx is done and reloads it when
// its contents change, logging the outcome. Polling the contents, rather
// than watching inodes, also catches editors and config-map mounts that
// replace the file.
func (pf *PolicyFile) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := pf.Reload()
		switch {
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			pf.logger.Error("policy rejected; the previous policy stays in force", "err", err)
		case err == nil:
			lastErr = ""
			if changed {
				pf.logger.Info("policy reloaded", "file", pf.path, "bindings", len(pf.Current().bindings))
			}
		}
	}
}
