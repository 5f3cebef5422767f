// Package lock keeps what a study's models wrote beside the study, in a
// plain layout meant to be committed with it, so that the study can be
// checked and measured again with no model API, no key and no network.
//
// # Layout
//
// The lock of study NAME (the study's name field) is the directory
// NAME.lock beside the study file. It holds one entry per generation of
// every model that calls an API (the "reference" and "files" models are
// on disk already):
//
//	NAME.lock/<model>/<task>/<variant>/<sample>/             the generated files, as the model wrote them
//	NAME.lock/<model>/<task>/<variant>/<sample>.json          the generation's metadata
//	NAME.lock/<model>/<task>/<variant>/<sample>.response.md   the model's raw answer, when it had one
//
// The code directories follow the "files" provider's layout (see
// runner/llm), so a "files" model whose dir is NAME.lock/<model> reads
// the code back as it is. The same model reads the whole entry back with
// --locked: its generations table is then the one recorded.
//
// The metadata file is JSON with sorted keys, indented by tabs: the
// generation's id, provider, model, model name, study version and base
// URL, its parameters, the prompt's SHA-256, the files with their sizes
// and SHA-256, the SHA-256 of the code as a whole, and the generation's
// journal record (the model version the API returned, tokens, latency,
// attempts, the time it was made, and whatever else the record holds).
// Nothing in it changes when the lock is written again: writing the lock
// of the same run twice gives byte-identical files.
package lock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// Suffix ends the name of a lock directory.
const Suffix = ".lock"

// Dir is the lock directory of study s: NAME.lock beside the study file.
func Dir(s *schema.Study) string {
	return filepath.Join(s.Source.Dir, s.Name+Suffix)
}

// Lock is a study's lock directory. As an engine.Replay it reads the
// entries of the plan's generations back.
type Lock struct {
	// Dir is the lock directory (see Dir).
	Dir string
	// Plan is the plan whose generations the lock holds.
	Plan *plan.Plan
}

var _ engine.Replay = (*Lock)(nil)

// meta is the part of an entry's metadata file that reading it needs. The
// journal record is read from the same object (its fields are at the top
// level).
type meta struct {
	ID           string     `json:"id"`
	Provider     string     `json:"provider"`
	Model        string     `json:"model"`
	ModelName    string     `json:"model_name"`
	Task         string     `json:"task"`
	Variant      string     `json:"variant"`
	Sample       int        `json:"sample"`
	PromptSHA256 string     `json:"prompt_sha256"`
	CodeSHA256   string     `json:"code_sha256"`
	Files        []metaFile `json:"files"`
}

// metaFile is one generated file of an entry; its fields are in the
// order of their keys, as the metadata's keys are sorted.
type metaFile struct {
	Bytes  int    `json:"bytes"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// entry is where generation g's entry lives under dir: its code directory;
// the metadata and raw answer files sit beside it.
func entry(dir string, g plan.Generation) string {
	return filepath.Join(dir, g.Model, g.Task, g.Variant, strconv.Itoa(g.Sample))
}

// name is how errors name a generation: model/task/variant/sample.
func name(g plan.Generation) string {
	return fmt.Sprintf("%s/%s/%s/%d", g.Model, g.Task, g.Variant, g.Sample)
}

// Generation reads generation g's entry (engine.Replay). An entry that is
// missing, or that was made for another request (the model's settings,
// its parameters or the prompt changed since), wraps
// engine.ErrNotReplayed; a damaged one (code that does not match its
// recorded SHA-256, files not listed in its metadata) is another error.
func (l *Lock) Generation(ctx context.Context, g plan.Generation, req llm.Request) (engine.GenerationRecord, llm.Result, error) {
	if err := ctx.Err(); err != nil {
		return engine.GenerationRecord{}, llm.Result{}, err
	}
	code := entry(l.Dir, g)
	metaPath := code + ".json"
	b, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("generation %s is not in the lock (no %s); run faaslab lock to add it: %w",
			name(g), metaPath, engine.ErrNotReplayed)
	}
	if err != nil {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: generation %s: %w", name(g), err)
	}
	var m meta
	var rec engine.GenerationRecord
	if err := json.Unmarshal(b, &m); err != nil {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: %s: %w", metaPath, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: %s: %w", metaPath, err)
	}
	if m.ID != g.ID {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("generation %s in the lock was made for another request "+
			"(the model's settings, its parameters or the prompt changed: %s has id %s, the study wants %s); run faaslab lock to make it again: %w",
			name(g), metaPath, m.ID, g.ID, engine.ErrNotReplayed)
	}
	files, err := readCode(code, m.Files)
	if err != nil {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: generation %s: %w", name(g), err)
	}
	if got := llm.CodeHash(files); got != m.CodeSHA256 || rec.CodeSHA256 != m.CodeSHA256 {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: generation %s: the code in %s does not match code_sha256 in %s "+
			"(edited by hand? code written by hand belongs to a files model)", name(g), code, metaPath)
	}
	raw, err := os.ReadFile(code + ".response.md")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return engine.GenerationRecord{}, llm.Result{}, fmt.Errorf("lock: generation %s: %w", name(g), err)
	}
	rec.Key = ""
	res := llm.Result{Files: files, ModelVersion: rec.ModelVersion, InputTokens: rec.InputTokens,
		OutputTokens: rec.OutputTokens, Raw: string(raw)}
	return rec, res, nil
}

// readCode reads the code directory of an entry: exactly the files its
// metadata lists, each matching its SHA-256.
func readCode(dir string, listed []metaFile) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p) // links are not followed
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, f := range listed {
		b, ok := files[f.Name]
		if !ok {
			return nil, fmt.Errorf("%s: file %s is missing", dir, f.Name)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, fmt.Errorf("%s: file %s does not match its SHA-256 (edited by hand?)", dir, f.Name)
		}
	}
	if len(files) != len(listed) {
		for n := range files {
			if !slices.ContainsFunc(listed, func(f metaFile) bool { return f.Name == n }) {
				return nil, fmt.Errorf("%s: file %s is not listed in the lock's metadata", dir, n)
			}
		}
	}
	return files, nil
}

// Check reports the plan's API generations that the lock cannot replay,
// naming the first few, or nil when it holds them all.
func (l *Lock) Check(ctx context.Context) error {
	var bad []error
	n := 0
	for _, g := range l.Plan.Generations {
		if !l.Plan.Study.Models[g.Model].CallsAPI() {
			continue
		}
		if _, _, err := l.Generation(ctx, g, llm.Request{}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n++
			if len(bad) < 5 {
				bad = append(bad, err)
			}
		}
	}
	if n == 0 {
		return nil
	}
	msg := fmt.Sprintf("--locked: the lock %s cannot replay %d generations (no model API is called with --locked):", l.Dir, n)
	for _, err := range bad {
		msg += "\n\t" + err.Error()
	}
	if n > len(bad) {
		msg += fmt.Sprintf("\n\tand %d more", n-len(bad))
	}
	return errors.New(msg)
}

// Hash is the SHA-256 of the lock's entries that the plan's API models
// read: every file under <dir>/<model>, its path and its content. Two runs
// with --locked share a run directory only when it is the same, so that a
// lock edited by hand never resumes a journal made from other code.
func (l *Lock) Hash() (string, error) {
	h := sha256.New()
	part := func(b []byte) { fmt.Fprintf(h, "%d:", len(b)); h.Write(b) }
	for _, id := range schema.SortedKeys(l.Plan.Study.Models) {
		if !l.Plan.Study.Models[id].CallsAPI() {
			continue
		}
		files, err := l.modelFiles(id)
		if err != nil {
			return "", fmt.Errorf("lock: %w", err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", fmt.Errorf("lock: %w", err)
			}
			rel, _ := filepath.Rel(l.Dir, p)
			part([]byte(filepath.ToSlash(rel)))
			part(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Files lists, sorted, every file of the lock that the plan's API models
// read (see Hash), and the model directories that hold them.
func (l *Lock) Files() (files, dirs []string, err error) {
	for _, id := range schema.SortedKeys(l.Plan.Study.Models) {
		if !l.Plan.Study.Models[id].CallsAPI() {
			continue
		}
		fs, err := l.modelFiles(id)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, fs...)
		dirs = append(dirs, filepath.Join(l.Dir, id))
	}
	return files, dirs, nil
}

// modelFiles lists, sorted, the regular files under model id's directory;
// none when it does not exist.
func (l *Lock) modelFiles(id string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(l.Dir, id), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == filepath.Join(l.Dir, id) {
			return filepath.SkipAll
		}
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	slices.Sort(files)
	return files, err
}

// Write writes the lock of the plan's API generations that st holds, with
// their code and raw answers from store, replacing the lock directory
// whole: the new lock is written beside it and then takes its place, so
// that it holds the study's generations and nothing else. Every API
// generation must be in st. A plan without API generations writes no
// lock, and leaves one that exists alone.
func (l *Lock) Write(ctx context.Context, st *engine.State, store llm.Store) (int, error) {
	s := l.Plan.Study
	if !slices.ContainsFunc(l.Plan.Generations, func(g plan.Generation) bool { return s.Models[g.Model].CallsAPI() }) {
		return 0, nil
	}
	parent := filepath.Dir(l.Dir)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(l.Dir)+".tmp-")
	if err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	n := 0
	for _, g := range l.Plan.Generations {
		m := s.Models[g.Model]
		if !m.CallsAPI() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rec, ok := st.Generations[g.ID]
		if !ok {
			return 0, fmt.Errorf("lock: generation %s was not made", name(g))
		}
		res, ok, err := store.Get(ctx, rec.Key)
		if err != nil {
			return 0, fmt.Errorf("lock: generation %s: %w", name(g), err)
		}
		if !ok {
			return 0, fmt.Errorf("lock: generation %s: artifact %s is missing from %s", name(g), rec.Key, store.Dir)
		}
		if err := writeEntry(entry(tmp, g), g, m, rec, res); err != nil {
			return 0, fmt.Errorf("lock: generation %s: %w", name(g), err)
		}
		n++
	}
	if err := replaceDir(tmp, l.Dir); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	return n, nil
}

// writeEntry writes one generation's entry at code (its code directory).
func writeEntry(code string, g plan.Generation, m schema.Model, rec engine.GenerationRecord, res llm.Result) error {
	doc, err := fields(rec)
	if err != nil {
		return err
	}
	delete(doc, "key") // the run's artifact store, not the generation
	doc["provider"] = m.Provider
	doc["model"] = g.Model
	doc["model_name"] = m.Model
	if m.Version != "" {
		doc["version"] = m.Version
	}
	if m.BaseURL != "" {
		doc["base_url"] = m.BaseURL
	}
	params, err := fields(m.Params)
	if err != nil {
		return err
	}
	doc["params"] = params
	doc["task"], doc["variant"], doc["sample"] = g.Task, g.Variant, g.Sample
	doc["prompt_sha256"] = g.PromptSHA256
	doc["code_sha256"] = llm.CodeHash(res.Files)
	names := make([]string, 0, len(res.Files))
	for n := range res.Files {
		if !fs.ValidPath(n) || n == "." {
			return fmt.Errorf("invalid file name %q", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	files := []metaFile{}
	if err := os.MkdirAll(code, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		b := res.Files[n]
		p := filepath.Join(code, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files = append(files, metaFile{Name: n, Bytes: len(b), SHA256: hex.EncodeToString(sum[:])})
	}
	doc["files"] = files
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(doc); err != nil { // maps encode with sorted keys
		return err
	}
	if err := os.WriteFile(code+".json", buf.Bytes(), 0o644); err != nil {
		return err
	}
	if res.Raw != "" {
		return os.WriteFile(code+".response.md", []byte(res.Raw), 0o644)
	}
	return nil
}

// fields is v's JSON object as a map, numbers kept as written.
func fields(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	return m, dec.Decode(&m)
}

// replaceDir puts directory from in the place of to, which may exist: to
// is moved aside, from renamed into place, and the old one removed. A
// crash between leaves the old lock beside, as .NAME.old-*, never half of
// one.
func replaceDir(from, to string) error {
	old := ""
	if _, err := os.Stat(to); err == nil {
		aside, err := os.MkdirTemp(filepath.Dir(to), "."+filepath.Base(to)+".old-")
		if err != nil {
			return err
		}
		old = filepath.Join(aside, "lock")
		if err := os.Rename(to, old); err != nil {
			os.Remove(aside)
			return err
		}
		defer os.RemoveAll(aside)
	}
	if err := os.Rename(from, to); err != nil {
		if old != "" {
			os.Rename(old, to) // put the old lock back
		}
		return err
	}
	return nil
}
