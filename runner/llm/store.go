package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/faaslab/faaslab/internal/durable"
)

// Store keeps generated code on disk, one directory per cache key (see
// CacheKey), so that a study can be measured again on exactly the same
// code without calling any model. An entry is laid out as
//
//	<Dir>/<key>/meta.json      model version, tokens, latency, SHA-256 of every file
//	<Dir>/<key>/files/<name>   the generated files
//	<Dir>/<key>/response.txt   the raw model response, when there is one
//
// An entry appears whole or not at all: Put writes it to a temporary
// directory (<Dir>/.tmp-<key>-*), syncs it and renames it into place. A
// crash may leave a temporary directory behind; Get never reads one and it
// is safe to delete. Entries are never replaced: the first Put of a key
// wins. Store is safe for concurrent use, also by several processes.
type Store struct {
	Dir string
}

// storeMeta is the content of meta.json.
type storeMeta struct {
	Key          string          `json:"key"`
	ModelVersion string          `json:"model_version"`
	InputTokens  int             `json:"input_tokens"`
	OutputTokens int             `json:"output_tokens"`
	LatencyNS    int64           `json:"latency_ns"`
	TTFTNS       int64           `json:"ttft_ns,omitempty"`
	Reasoning    int             `json:"reasoning_tokens,omitempty"`
	Cached       int             `json:"cached_tokens,omitempty"`
	FinishReason string          `json:"finish_reason,omitempty"`
	CodeSHA256   string          `json:"code_sha256"` // CodeHash of all files
	Files        []storeMetaFile `json:"files"`
}

// storeMetaFile describes one stored file.
type storeMetaFile struct {
	Name   string `json:"name"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

const (
	metaFile     = "meta.json"
	filesDir     = "files"
	responseFile = "response.txt"
)

// Put stores res under key unless an entry for key exists already. The
// caller must store only successful generations: errors are never cached.
func (s Store) Put(ctx context.Context, key string, res Result) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(res.Files) == 0 {
		return fmt.Errorf("store %s: result has no files", key)
	}
	for name := range res.Files {
		if !fs.ValidPath(name) || name == "." {
			return fmt.Errorf("store %s: invalid file name %q", key, name)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := filepath.Join(s.Dir, key)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	tmp, err := os.MkdirTemp(s.Dir, ".tmp-"+key+"-")
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	if err := writeEntry(ctx, tmp, key, res); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("store %s: %w", key, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(final); statErr == nil {
			return nil // another Put of the same key won
		}
		return fmt.Errorf("store %s: %w", key, err)
	}
	if err := durable.SyncDir(s.Dir); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// writeEntry writes the entry of res into the empty directory dir and
// syncs every file and directory in it.
func writeEntry(ctx context.Context, dir, key string, res Result) error {
	meta := storeMeta{
		Key:          key,
		ModelVersion: res.ModelVersion,
		InputTokens:  res.InputTokens,
		OutputTokens: res.OutputTokens,
		LatencyNS:    int64(res.Latency),
		TTFTNS:       int64(res.TTFT),
		Reasoning:    res.ReasoningTokens,
		Cached:       res.CachedTokens,
		FinishReason: res.FinishReason,
		CodeSHA256:   CodeHash(res.Files),
	}
	dirs := []string{dir, filepath.Join(dir, filesDir)}
	for _, name := range sortedNames(res.Files) {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dir, filesDir, filepath.FromSlash(name))
		for d := filepath.Dir(p); d != filepath.Join(dir, filesDir); d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeFileSync(p, res.Files[name]); err != nil {
			return err
		}
		sum := sha256.Sum256(res.Files[name])
		meta.Files = append(meta.Files, storeMetaFile{Name: name, Bytes: len(res.Files[name]), SHA256: hex.EncodeToString(sum[:])})
	}
	if res.Raw != "" {
		if err := writeFileSync(filepath.Join(dir, responseFile), []byte(res.Raw)); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(meta, "", "\t")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, metaFile), append(b, '\n')); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := durable.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the entry of key. It reports false, and no error, when the
// store holds no entry for key; it returns an error when the entry is
// unreadable or a file does not match its recorded SHA-256.
func (s Store) Get(ctx context.Context, key string) (Result, bool, error) {
	if err := checkKey(key); err != nil {
		return Result{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, false, err
	}
	dir := filepath.Join(s.Dir, key)
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("store %s: %w", key, err)
	}
	var meta storeMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return Result{}, false, fmt.Errorf("store %s: %s: %w", key, metaFile, err)
	}
	res := Result{
		Files:           make(map[string][]byte, len(meta.Files)),
		ModelVersion:    meta.ModelVersion,
		InputTokens:     meta.InputTokens,
		OutputTokens:    meta.OutputTokens,
		Latency:         time.Duration(meta.LatencyNS),
		TTFT:            time.Duration(meta.TTFTNS),
		ReasoningTokens: meta.Reasoning,
		CachedTokens:    meta.Cached,
		FinishReason:    meta.FinishReason,
	}
	for _, f := range meta.Files {
		if !fs.ValidPath(f.Name) || f.Name == "." {
			return Result{}, false, fmt.Errorf("store %s: %s: invalid file name %q", key, metaFile, f.Name)
		}
		code, err := os.ReadFile(filepath.Join(dir, filesDir, filepath.FromSlash(f.Name)))
		if err != nil {
			return Result{}, false, fmt.Errorf("store %s: %w", key, err)
		}
		if sum := sha256.Sum256(code); hex.EncodeToString(sum[:]) != f.SHA256 {
			return Result{}, false, fmt.Errorf("store %s: file %s does not match its SHA-256 in %s", key, f.Name, metaFile)
		}
		res.Files[f.Name] = code
	}
	raw, err := os.ReadFile(filepath.Join(dir, responseFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, fmt.Errorf("store %s: %w", key, err)
	}
	res.Raw = string(raw)
	return res, true, nil
}

// checkKey rejects keys that are not CacheKey's 64 lower-case hex digits,
// so that a key cannot name a path outside the store.
func checkKey(key string) error {
	if len(key) != sha256.Size*2 {
		return fmt.Errorf("invalid cache key %q: want 64 hex digits", key)
	}
	for _, c := range key {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("invalid cache key %q: want 64 hex digits", key)
		}
	}
	return nil
}

// sortedNames returns the names of files in byte order.
func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// writeFileSync writes data to a new file p and syncs it.
func writeFileSync(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
