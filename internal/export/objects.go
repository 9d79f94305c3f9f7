package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Errors of the object stores.
var (
	// ErrObjectExists: PutNew found an object at the key.
	ErrObjectExists = errors.New("export: object exists")
	// ErrObjectNotFound: no object at the key.
	ErrObjectNotFound = errors.New("export: object not found")
)

// Objects is a bucket (or a directory standing in for one) that keeps
// objects written once.
type Objects interface {
	// PutNew stores body at key only if no object is there (S3's
	// If-None-Match: *), else returns ErrObjectExists.
	PutNew(ctx context.Context, key string, body []byte, contentType string) error
	// Get returns the object at key, or ErrObjectNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// putOnce stores body at key, once: when an object is already there (a
// retry after a lost acknowledgement, or a redelivery after a crash) it
// compares the stored object's SHA-256 with body's and moves on when they
// agree. A different object at the key is an error that needs an operator.
func putOnce(ctx context.Context, o Objects, key string, body []byte, contentType string) error {
	err := o.PutNew(ctx, key, body, contentType)
	if !errors.Is(err, ErrObjectExists) {
		return err
	}
	old, err := o.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("export: %s exists but cannot be read back: %w", key, err)
	}
	if sha256.Sum256(old) != sha256.Sum256(body) {
		return fmt.Errorf("export: %s exists with other content (sha256 %s, want %s): refusing to overwrite", key, sha256Hex(old), sha256Hex(body))
	}
	return nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Dir is an Objects in a local directory: keys are slash-separated paths
// below it. Objects are written to a temporary file, synced, and linked into
// place, so a reader never sees a partial object and an existing one is
// never replaced.
type Dir struct {
	root string
}

var _ Objects = (*Dir)(nil)

// NewDir returns the directory store at root, creating it.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) file(key string) (string, error) {
	if key == "" || !fs.ValidPath(key) {
		return "", fmt.Errorf("export: invalid object key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// PutNew implements Objects.
func (d *Dir) PutNew(_ context.Context, key string, body []byte, _ string) error {
	name, err := d.file(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return fmt.Errorf("export: %s: %w", key, err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("export: %s: %w", key, err)
	}
	if err := os.Link(tmp.Name(), name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrObjectExists
		}
		return fmt.Errorf("export: %s: %w", key, err)
	}
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
	return nil
}

// Get implements Objects.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	name, err := d.file(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrObjectNotFound, key)
	}
	return b, err
}

// List implements Objects.
func (d *Dir) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() || strings.HasPrefix(de.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// joinKey joins a configured prefix and a key.
func joinKey(prefix string, parts ...string) string {
	return strings.TrimPrefix(path.Join(append([]string{prefix}, parts...)...), "/")
}
