package check

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/faaslab/faaslab/internal/durable"
	"github.com/faaslab/faaslab/runner/platform"
)

// referenceOutputs returns ref's output for every test, from the memory
// cache, the disk cache or by running ref once for the missing ones.
func (c *Checker) referenceOutputs(ctx context.Context, ref platform.Function, tests []Test) ([]json.RawMessage, error) {
	if ref.CodeDir == "" || ref.Handler == "" {
		return nil, errors.New("check: reference needs CodeDir and Handler")
	}
	codeHash, err := hashCode(ref.CodeDir)
	if err != nil {
		return nil, fmt.Errorf("check: reference: %w", err)
	}
	c.refMu.Lock()
	defer c.refMu.Unlock()
	if c.refs == nil {
		c.refs = map[string]json.RawMessage{}
	}
	outs := make([]json.RawMessage, len(tests))
	var dep platform.Deployment
	defer func() {
		if dep != nil {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = dep.Close(closeCtx) // the outputs are already safe; a leak here is the platform's to report
		}
	}()
	for i, t := range tests {
		event := compactEvent(t.Event)
		key := referenceKey(codeHash, ref, event)
		if out, ok := c.refs[key]; ok {
			outs[i] = out
			continue
		}
		if out, ok := c.readCache(key); ok {
			c.refs[key], outs[i] = out, out
			continue
		}
		if dep == nil {
			fn := ref
			if fn.Name == "" {
				fn.Name = uniqueName("reference")
			}
			if dep, err = c.Platform.Deploy(ctx, fn); err != nil {
				return nil, fmt.Errorf("check: deploy reference: %w", err)
			}
		}
		inv, err := dep.Invoke(ctx, event)
		if err != nil {
			return nil, fmt.Errorf("check: invoke reference on test %q: %w", t.Name, err)
		}
		if inv.Status != platform.StatusOK {
			return nil, fmt.Errorf("check: reference fails test %q: %s", t.Name, failure(string(inv.Status), inv))
		}
		out := append(json.RawMessage(nil), inv.Result...)
		if err := c.writeCache(key, out); err != nil {
			return nil, err
		}
		c.refs[key], outs[i] = out, out
	}
	return outs, nil
}

// referenceKey is the cache key of ref's output for event: a SHA-256 of
// the reference's code, handler, runtime and the compacted event.
func referenceKey(codeHash string, ref platform.Function, event []byte) string {
	h := sha256.New()
	for _, s := range []string{"faaslab check reference v1", codeHash, ref.Handler, ref.Runtime} {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	h.Write(event)
	return hex.EncodeToString(h.Sum(nil))
}

// hashCode hashes every regular file under dir with its relative path,
// skipping __pycache__ directories.
func hashCode(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(h, "%d:%s\n%d:", len(rel), filepath.ToSlash(rel), len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash code in %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Checker) cachePath(key string) string {
	return filepath.Join(c.CacheDir, "reference", key[:2], key+".json")
}

// readCache returns a cached output. A missing or unreadable entry is a
// miss: the reference runs again and rewrites it.
func (c *Checker) readCache(key string) (json.RawMessage, bool) {
	if c.CacheDir == "" {
		return nil, false
	}
	data, err := os.ReadFile(c.cachePath(key))
	if err != nil || len(data) == 0 {
		return nil, false
	}
	return data, true
}

// writeCache stores an output durably: temporary file, fsync, rename.
func (c *Checker) writeCache(key string, out json.RawMessage) error {
	if c.CacheDir == "" {
		return nil
	}
	path := c.cachePath(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("check: reference cache: %w", err)
	}
	err := durable.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(out)
		return err
	})
	if err != nil {
		return fmt.Errorf("check: reference cache %s: %w", path, err)
	}
	return nil
}
