package session

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/faaslab/faaslab/internal/durable"
	"github.com/faaslab/faaslab/runner/lock"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/schema"
)

// A finished run's record lets the same command, run again with nothing
// changed, print the run's outcome without evaluating the study (CUE
// evaluation of a study with large lists takes most of a second) or
// exporting its tables again.
//
// The record is written only when a full run (every stage and the export)
// ended with nothing left to do; it lives in OUT/.records/, one file per
// study path and tags, because the run directory's name needs the study
// evaluated. It holds the size, modification time and SHA-256 of the
// study file and of every file the study refers to, the file lists of
// "files" models' directories, the tags, the host architecture, the
// faaslab build (its executable's size and modification time), the
// journal's size and modification time, and the outcome printed. It is
// used only when every one of those still matches and the tables are no
// older than the journal; anything else runs the study as usual, and a
// record that cannot be read is ignored. A study inside a CUE module (a
// cue.mod directory at or above it) gets no record, since it may import
// packages whose files the record would not know.

// recordVersion changes when the record's meaning does.
const recordVersion = 1

// record is what a finished run left for the next identical command.
type record struct {
	Version  int      `json:"version"`
	Study    string   `json:"study"` // absolute path
	Tags     []string `json:"tags"`
	HostArch string   `json:"host_arch"`
	Build    stamp    `json:"build"`
	Files    []stamp  `json:"files"` // the study file first
	// Dirs holds, for each "files" model directory, its regular files.
	Dirs    map[string][]string `json:"dirs"`
	RunDir  string              `json:"run_dir"`
	Journal stamp               `json:"journal"`
	Outcome string              `json:"outcome"`
}

// stamp identifies one file's content.
type stamp struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256,omitempty"`
}

// recordPath is where the record of the study at o.Study with o.Tags lives.
func recordPath(env *Env, o Options) (string, error) {
	if env.Cwd == "" && !filepath.IsAbs(o.Study) {
		return "", fmt.Errorf("no working directory")
	}
	study := env.abs(o.Study)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", study, strings.Join(o.Tags, "\x00"))
	if o.Locked {
		h.Write([]byte("\x00\x00--locked")) // a run of its own
	}
	return filepath.Join(env.out(o), ".records", hex.EncodeToString(h.Sum(nil))[:16]+".json"), nil
}

// stampOf stats path; hash adds its SHA-256.
func stampOf(path string, hash bool) (stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return stamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stamp{}, err
	}
	st := stamp{Path: path, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if hash {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return stamp{}, err
		}
		st.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return st, nil
}

// regularFiles lists the regular files under dir, as schema.Study.Files
// finds them.
func regularFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	slices.Sort(files)
	return files, err
}

// writeRecord records the finished run of s in dir, which printed outcome.
func writeRecord(env *Env, o Options, s *schema.Study, dir, outcome string) error {
	path, err := recordPath(env, o)
	if err != nil || env.Executable == "" {
		return err
	}
	build, err := stampOf(env.Executable, false)
	if err != nil {
		return err
	}
	study := env.abs(o.Study)
	if inCUEModule(filepath.Dir(study)) {
		// The study may import packages of its module, files the record
		// would not know to watch.
		return nil
	}
	files, dirs, err := s.Files()
	if err != nil {
		return err
	}
	if o.Locked { // the lock is part of what such a run read
		lk := &lock.Lock{Dir: lock.Dir(s), Plan: &plan.Plan{Study: s}}
		lf, ld, err := lk.Files()
		if err != nil {
			return err
		}
		files, dirs = append(files, lf...), append(dirs, ld...)
	}
	rec := record{Version: recordVersion, Study: study, Tags: o.Tags, HostArch: env.HostArch, Build: build,
		Dirs: map[string][]string{}, RunDir: dir, Outcome: outcome}
	for _, f := range append([]string{study}, files...) {
		st, err := stampOf(f, true)
		if err != nil {
			return err
		}
		rec.Files = append(rec.Files, st)
	}
	for _, d := range dirs {
		if rec.Dirs[d], err = regularFiles(d); err != nil {
			return err
		}
	}
	if rec.Journal, err = stampOf(filepath.Join(dir, "journal.jsonl"), false); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// upToDate returns the record of the study's finished run when nothing it
// depends on changed since.
func upToDate(env *Env, o Options) (record, bool) {
	path, err := recordPath(env, o)
	if err != nil || env.Executable == "" {
		return record{}, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return record{}, false
	}
	var rec record
	if json.Unmarshal(data, &rec) != nil || rec.Version != recordVersion || len(rec.Files) == 0 ||
		rec.HostArch != env.HostArch || !slices.Equal(rec.Tags, o.Tags) {
		return record{}, false
	}
	if build, err := stampOf(env.Executable, false); err != nil || build != rec.Build {
		return record{}, false
	}
	for _, want := range rec.Files {
		if got, err := stampOf(want.Path, true); err != nil || got.Size != want.Size || got.SHA256 != want.SHA256 {
			return record{}, false
		}
	}
	for d, want := range rec.Dirs {
		if got, err := regularFiles(d); err != nil || !slices.Equal(got, want) {
			return record{}, false
		}
	}
	journal, err := stampOf(filepath.Join(rec.RunDir, "journal.jsonl"), false)
	if err != nil || journal != rec.Journal {
		return record{}, false
	}
	tables, err := os.Stat(filepath.Join(rec.RunDir, "tables"))
	if err != nil || !tables.IsDir() || tables.ModTime().UnixNano() < journal.ModTime {
		return record{}, false
	}
	return rec, true
}

// inCUEModule reports whether dir or a directory above it holds cue.mod.
func inCUEModule(dir string) bool {
	for {
		if _, err := os.Stat(filepath.Join(dir, "cue.mod")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// abs is path made absolute against env.Cwd.
func (env *Env) abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(env.Cwd, path)
}
