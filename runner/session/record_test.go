package session

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faaslab/faaslab/schema"
)

const testStudy = `package study

name: "t"
models: {
	reference: {provider: "reference"}
	hand: {provider: "files", dir: "code"}
}
tasks: primes: {
	variants: long: prompt: "prompts/long.md"
	reference: "refs/ref.py"
	tests: [{name: "small", event: {n: 10}}]
	benchmark: event: {n: 1000}
}
platforms: local: kind: "local"
matrix: {memory_mb: [512], arch: ["x86_64"], repetitions: 3}
budget: usd: 5
`

// finishedRun lays out a study, a run directory with a journal and tables,
// and the record of the finished run; it returns the env and options that
// find the record.
func finishedRun(t *testing.T) (*Env, Options, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"study.cue":               testStudy,
		"prompts/long.md":         "primes",
		"refs/ref.py":             "def handler(e, c):\n    return 1\n",
		"code/primes/long.py":     "def handler(e, c):\n    return 1\n",
		"faaslab-binary":          "build 1",
		"out/t/run/journal.jsonl": "{}\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "out/t/run/journal.jsonl"), past, past)
	if err := os.Mkdir(filepath.Join(dir, "out/t/run/tables"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := &Env{Cwd: dir, HostArch: "x86_64", Executable: filepath.Join(dir, "faaslab-binary"), Stdout: io.Discard, Stderr: io.Discard}
	o := Options{Study: "study.cue", Out: "out", Export: true}
	s, err := schema.Load(filepath.Join(dir, "study.cue"), schema.Options{Cwd: dir, HostArch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(env, o, s, filepath.Join(dir, "out/t/run"), "the outcome\n"); err != nil {
		t.Fatal(err)
	}
	return env, o, dir
}

func TestNoRecordInCUEModule(t *testing.T) {
	env, o, dir := finishedRun(t)
	path, _ := recordPath(env, o)
	os.Remove(path)
	os.Mkdir(filepath.Join(dir, "cue.mod"), 0o755)
	s, err := schema.Load(filepath.Join(dir, "study.cue"), schema.Options{Cwd: dir, HostArch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(env, o, s, filepath.Join(dir, "out/t/run"), "the outcome\n"); err != nil {
		t.Fatal(err)
	}
	if _, ok := upToDate(env, o); ok {
		t.Errorf("a study in a CUE module got a record")
	}
}

func TestRecordUpToDate(t *testing.T) {
	env, o, _ := finishedRun(t)
	rec, ok := upToDate(env, o)
	if !ok || rec.Outcome != "the outcome\n" {
		t.Fatalf("upToDate = %+v, %v; want the recorded outcome", rec, ok)
	}
}

// TestRecordStale changes one thing the record depends on at a time: each
// must make the next run evaluate the study again.
func TestRecordStale(t *testing.T) {
	write := func(path, text string) func(t *testing.T, dir string, env *Env, o *Options) {
		return func(t *testing.T, dir string, env *Env, o *Options) {
			p := filepath.Join(dir, path)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			// Same modification time: only the content tells.
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string, env *Env, o *Options)
	}{
		{"study file, same size and time", write("study.cue", testStudy[:len(testStudy)-2]+"6\n")},
		{"prompt", write("prompts/long.md", "PRIMES")},
		{"reference", write("refs/ref.py", "def handler(e, c):\n    return 2\n")},
		{"files model code", write("code/primes/long.py", "def handler(e, c):\n    return 2\n")},
		{"new file in a files model", func(t *testing.T, dir string, env *Env, o *Options) {
			os.WriteFile(filepath.Join(dir, "code/primes/util.py"), nil, 0o644)
		}},
		{"removed referenced file", func(t *testing.T, dir string, env *Env, o *Options) {
			os.Remove(filepath.Join(dir, "prompts/long.md"))
		}},
		{"tag", func(t *testing.T, dir string, env *Env, o *Options) { o.Tags = []string{"x=1"} }},
		{"host arch", func(t *testing.T, dir string, env *Env, o *Options) { env.HostArch = "arm64" }},
		{"build", func(t *testing.T, dir string, env *Env, o *Options) {
			os.WriteFile(env.Executable, []byte("build 22"), 0o755)
		}},
		{"journal", func(t *testing.T, dir string, env *Env, o *Options) {
			f, _ := os.OpenFile(filepath.Join(dir, "out/t/run/journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("{}\n")
			f.Close()
		}},
		{"tables older than the journal", func(t *testing.T, dir string, env *Env, o *Options) {
			old := time.Now().Add(-2 * time.Hour)
			os.Chtimes(filepath.Join(dir, "out/t/run/tables"), old, old)
		}},
		{"tables removed", func(t *testing.T, dir string, env *Env, o *Options) {
			os.RemoveAll(filepath.Join(dir, "out/t/run/tables"))
		}},
		{"corrupt record", func(t *testing.T, dir string, env *Env, o *Options) {
			path, _ := recordPath(env, *o)
			os.WriteFile(path, []byte("{"), 0o644)
		}},
		{"no executable known", func(t *testing.T, dir string, env *Env, o *Options) { env.Executable = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, o, dir := finishedRun(t)
			tc.change(t, dir, env, &o)
			if _, ok := upToDate(env, o); ok {
				t.Errorf("after a changed %s the record still holds", tc.name)
			}
		})
	}
}
