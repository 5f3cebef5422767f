package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/llm/llmtest"
	"github.com/faaslab/faaslab/runner/platform"
)

// fakeKey is the API key the tests put in the environment: distinctive,
// so that a copy of it anywhere is found.
const fakeKey = "sk-fake-DO-NOT-LEAK-7f3c9a1e5b2d4c6f8a0e"

// lockStudy is a study of one API model, served by a fake OpenAI server at
// baseURL, and the reference; models adds model entries.
func lockStudy(baseURL, models string, samples int, budget float64, maxTokens int) string {
	return fmt.Sprintf(`package study

name: "t"
models: {
	reference: {provider: "reference"}
	gpt: {provider: "openai", model: "gpt-4o-2024-08-06", base_url: %q, api_key_env: "FAKE_OPENAI_API_KEY",
		price: {input_per_mtok: 1000000, output_per_mtok: 1000000}, params: max_tokens: %d}
%s}
tasks: primes: {
	variants: {long: prompt: "prompts/long.md", short: prompt: "prompts/short.md"}
	reference: "refs/ref.py"
	tests: [{name: "small", event: {n: 10}}]
	benchmark: event: {n: 1000}
}
platforms: local: kind: "local"
matrix: {
	memory_mb: [512]
	arch: ["x86_64"]
	platforms: ["local"]
	samples: %d
	repetitions: 2
	warmup: 0
	exclude: [{model: "reference", variant: "short"}]
}
budget: usd: %g
`, baseURL, maxTokens, models, samples, budget)
}

// cli runs faaslab command lines in one directory with one environment,
// keeping everything they printed.
type cli struct {
	t      *testing.T
	dir    string
	env    map[string]string
	output bytes.Buffer // every command's stdout and stderr
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	exe, _ := os.Executable() // the test binary: the record of a finished run needs a build
	st := &State{Executable: exe, Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return c.env[k] }, Cwd: c.dir,
		HostArch: platform.HostArch(), OpenPlatform: platforms.open, CanOpen: platforms.canOpen}
	code = run(context.Background(), st, args)
	c.output.Write(out.Bytes())
	c.output.Write(errb.Bytes())
	return code, out.String(), errb.String()
}

func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	code, stdout, stderr := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("faaslab %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// generations reads the generations table of the only run under out, by
// generation id, without its run_id column.
func generations(t *testing.T, out string) (header []string, rows map[string][]string) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(out, "t", "*", "tables", "generations.csv"))
	if len(paths) != 1 {
		t.Fatalf("%d generations tables under %s, want 1", len(paths), out)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header = recs[0]
	runID, id := slices.Index(header, "run_id"), slices.Index(header, "generation_id")
	rows = map[string][]string{}
	for _, r := range recs[1:] {
		key := r[id]
		rows[key] = slices.Delete(slices.Clone(r), runID, runID+1)
	}
	return slices.Delete(slices.Clone(header), runID, runID+1), rows
}

func column(header []string, row []string, name string) string {
	return row[slices.Index(header, name)]
}

// TestLockRerunsWithoutTheAPI locks a study against a fake OpenAI server,
// then stops the server, drops the key and runs the study again from the
// lock, with --locked and with a files model on the lock: the same
// generations, every check and cell done. It also checks that the key
// appears in nothing faaslab wrote or printed.
func TestLockRerunsWithoutTheAPI(t *testing.T) {
	dir := t.TempDir()
	if err := setupWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the study's path is relative to the process's directory
	ref, err := os.ReadFile(filepath.Join(dir, "refs/ref.py"))
	if err != nil {
		t.Fatal(err)
	}
	fake := llmtest.NewFakeOpenAI(t)
	fake.Answer("Here is the function:\n\n```python\n" + string(ref) + "```\n")
	study := filepath.Join(dir, "study.cue")
	if err := os.WriteFile(study, []byte(lockStudy(fake.URL+"/v1", "", 2, 5000, 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, dir: dir, env: map[string]string{"FAKE_OPENAI_API_KEY": fakeKey}}

	// Lock: four API generations, written beside the study.
	stdout := c.mustRun("lock", "study.cue", "--out", "out", "--quiet")
	if !strings.Contains(stdout, "lock t.lock: 4 generations") {
		t.Errorf("lock printed %q", stdout)
	}
	if n := fake.Requests(); n != 4 {
		t.Fatalf("%d API requests, want 4", n)
	}
	if r, _ := fake.Last(); r.Authorization != "Bearer "+fakeKey {
		t.Fatalf("the fake server got Authorization %q: the key was not used, the leak check would prove nothing", r.Authorization)
	}
	for _, p := range []string{"gpt/primes/long/0/handler.py", "gpt/primes/long/1.json", "gpt/primes/short/1.response.md"} {
		if _, err := os.Stat(filepath.Join(dir, "t.lock", p)); err != nil {
			t.Errorf("lock: %v", err)
		}
	}
	first := readTree(t, filepath.Join(dir, "t.lock"))

	// Locking again changes nothing and calls nothing.
	c.mustRun("lock", "study.cue", "--out", "out", "--quiet")
	if fake.Requests() != 4 {
		t.Errorf("locking again sent %d more requests", fake.Requests()-4)
	}
	if again := readTree(t, filepath.Join(dir, "t.lock")); !mapsEqual(first, again) {
		t.Error("locking twice gave different files")
	}

	// The run the lock came from: checks and measures its generations.
	want := c.mustRun("run", "study.cue", "--out", "out", "--quiet")
	if !strings.Contains(want, "t: 6 generations (6 OK); 6 of 6 cells measured") {
		t.Fatalf("run: %q", want)
	}
	header, wantRows := generations(t, filepath.Join(dir, "out"))

	// No key in anything written or printed so far.
	noSecret(t, c.output.Bytes(), "stdout and stderr")
	noSecretIn(t, filepath.Join(dir, "out"))
	noSecretIn(t, filepath.Join(dir, "t.lock"))

	// Server stopped, key gone, no cache: the study runs from its lock.
	fake.Close()
	c.env = map[string]string{}
	got := c.mustRun("run", "study.cue", "--locked", "--out", "out2", "--quiet")
	if got != strings.Replace(want, "out/t/", "out2/t/", 1) && !strings.HasPrefix(got, strings.SplitN(want, "\n", 2)[0]) {
		t.Errorf("locked run: %q, want %q", got, want)
	}
	_, gotRows := generations(t, filepath.Join(dir, "out2"))
	if len(gotRows) != len(wantRows) {
		t.Fatalf("locked run: %d generations, want %d", len(gotRows), len(wantRows))
	}
	for id, w := range wantRows {
		g := gotRows[id]
		if column(header, w, "provider") == "reference" {
			// Read from the study's files anew by every run, so made at
			// another time: every other column is the same.
			i := slices.Index(header, "created_at")
			g, w = slices.Delete(slices.Clone(g), i, i+1), slices.Delete(slices.Clone(w), i, i+1)
		}
		if !slices.Equal(g, w) {
			t.Errorf("generation %s:\n got %v\nwant %v\n(columns %v)", id, g, w, header)
		}
	}
	noSecretIn(t, filepath.Join(dir, "out2"))
	if out := c.mustRun("export", "study.cue", "--locked", "--out", "out2"); !strings.HasPrefix(out, "out2/t/") {
		t.Errorf("export --locked: %q, want the locked run's tables", out)
	}

	// Nothing changed: the recorded outcome at once.
	if _, _, stderr := c.run("run", "study.cue", "--locked", "--out", "out2"); !strings.Contains(stderr, "unchanged since") {
		t.Errorf("second locked run: %q, want the recorded outcome", stderr)
	}

	// A lock edited by hand never resumes the run made from the old one:
	// the edited tokens show in a run of its own.
	meta := filepath.Join(dir, "t.lock/gpt/primes/long/0.json")
	b, _ := os.ReadFile(meta)
	edited := bytes.Replace(b, []byte(`"output_tokens": 34`), []byte(`"output_tokens": 35`), 1)
	if bytes.Equal(b, edited) {
		t.Fatalf("%s has no output_tokens 34:\n%s", meta, b)
	}
	os.WriteFile(meta, edited, 0o644)
	_, _, stderr := c.run("run", "study.cue", "--locked", "--out", "out2")
	if strings.Contains(stderr, "unchanged since") {
		t.Fatalf("a hand-edited lock reused the finished run: %s", stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "out2/t/*/journal.jsonl"))
	if len(runs) != 2 {
		t.Errorf("%d runs after editing the lock, want 2 (the edit makes a run of its own)", len(runs))
	}
	os.WriteFile(meta, b, 0o644)

	// A generation missing from the lock: a clear error, no work, no API.
	os.Rename(filepath.Join(dir, "t.lock/gpt/primes/short/1.json"), filepath.Join(dir, "moved.json"))
	code, _, stderr := c.run("run", "study.cue", "--locked", "--out", "out3")
	if code != exitFailure || !strings.Contains(stderr, "cannot replay 1 generations") ||
		!strings.Contains(stderr, "generation gpt/primes/short/1 is not in the lock") {
		t.Errorf("missing generation: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out3/t")); err == nil {
		t.Error("a run with a generation missing from the lock started")
	}
	os.Rename(filepath.Join(dir, "moved.json"), filepath.Join(dir, "t.lock/gpt/primes/short/1.json"))

	// A files model on the lock reads the same code.
	os.WriteFile(study, []byte(lockStudy(fake.URL+"/v1", `	fromlock: {provider: "files", dir: "t.lock/gpt"}
`, 2, 5000, 100)), 0o644)
	got = c.mustRun("run", "study.cue", "--locked", "--out", "out4", "--quiet")
	if !strings.Contains(got, "t: 10 generations (10 OK); 10 of 10 cells measured") {
		t.Errorf("files model on the lock: %q", got)
	}
	h, rows := generations(t, filepath.Join(dir, "out4"))
	code0 := map[string]string{}
	for _, r := range rows {
		if column(h, r, "model") == "gpt" {
			code0[column(h, r, "variant")+"/"+column(h, r, "sample")] = column(h, r, "code_sha256")
		}
	}
	n := 0
	for _, r := range rows {
		if column(h, r, "model") == "fromlock" {
			n++
			if k := column(h, r, "variant") + "/" + column(h, r, "sample"); column(h, r, "code_sha256") != code0[k] || code0[k] == "" {
				t.Errorf("files model %s: code %s, the locked model's %s", k, column(h, r, "code_sha256"), code0[k])
			}
		}
	}
	if n != 4 {
		t.Errorf("%d generations of the files model, want 4", n)
	}

	// The lock's tokens cost nothing: a budget the API estimate passes
	// still runs locked.
	os.WriteFile(study, []byte(lockStudy(fake.URL+"/v1", "", 2, 1, 100)), 0o644)
	if code, _, stderr := c.run("plan", "study.cue"); code != exitOverBudget {
		t.Fatalf("plan with budget.usd 1: exit %d, want %d (%s)", code, exitOverBudget, stderr)
	}
	c.mustRun("generate", "study.cue", "--locked", "--out", "out5", "--quiet")
	noSecret(t, c.output.Bytes(), "stdout and stderr")
}

// TestSpendLimitStopsGeneration runs a study whose estimate fits its
// budget but whose answers bill more than max_tokens allows for (the fake
// server bills 34 output tokens whatever max_tokens says): generation
// stops with exit 3 before passing budget.usd, and resumes when the
// budget is raised.
func TestSpendLimitStopsGeneration(t *testing.T) {
	dir := t.TempDir()
	if err := setupWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the study's path is relative to the process's directory
	fake := llmtest.NewFakeOpenAI(t)
	fake.Answer("```python\ndef handler(event, context):\n    return {\"ok\": True}\n```\n")
	study := filepath.Join(dir, "study.cue")
	// Worst cases at $1 a token: 14 prompt tokens + 10 (long), 4 + 10
	// (short); the estimate, 4 × 24 + 4 × 14 = $152. Each answer bills
	// $46. Four requests are under way at once.
	os.WriteFile(study, []byte(lockStudy(fake.URL+"/v1", "", 4, 160, 10)), 0o644)
	c := &cli{t: t, dir: dir, env: map[string]string{"FAKE_OPENAI_API_KEY": fakeKey}}
	code, stdout, stderr := c.run("run", "study.cue", "--out", "out", "--quiet")
	if code != exitOverBudget {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitOverBudget, stdout, stderr)
	}
	if !strings.Contains(stderr, "faaslab: generation stopped: the next request could pass budget.usd ($") ||
		!strings.Contains(stderr, "spent of $160.00); raise budget.usd") {
		t.Errorf("stderr %q does not say why generation stopped", stderr)
	}
	sent := fake.Requests()
	if sent >= 8 || sent < 1 {
		t.Errorf("%d requests sent, want some but not all 8", sent)
	}
	os.WriteFile(study, []byte(lockStudy(fake.URL+"/v1", "", 4, 1000, 10)), 0o644)
	out := c.mustRun("generate", "study.cue", "--out", "out", "--quiet")
	if !strings.Contains(out, "12 of 12 generations made") {
		t.Errorf("resumed: %q", out)
	}
	if fake.Requests() != 8 {
		t.Errorf("%d requests in all, want 8 (none made twice)", fake.Requests())
	}
	noSecret(t, c.output.Bytes(), "stdout and stderr")
	noSecretIn(t, filepath.Join(dir, "out"))
}

// secrets are the forms of the key that must appear nowhere.
func secrets() [][]byte {
	return [][]byte{
		[]byte(fakeKey),
		[]byte(base64.StdEncoding.EncodeToString([]byte(fakeKey))),
		[]byte(base64.URLEncoding.EncodeToString([]byte(fakeKey))),
		[]byte(base64.StdEncoding.EncodeToString([]byte("Bearer " + fakeKey))),
		[]byte(fakeKey[len("sk-fake-"):]), // its distinctive part alone
	}
}

func noSecret(t *testing.T, b []byte, where string) {
	t.Helper()
	for _, s := range secrets() {
		if bytes.Contains(b, s) {
			t.Errorf("%s holds the API key (as %q)", where, s)
		}
	}
}

// noSecretIn checks every file under dir, whatever its kind (journal,
// log, tables, artifacts, cache, functions, the lock).
func noSecretIn(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		noSecret(t, b, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("no file under %s to check", dir)
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLockRefresh makes every API generation anew with --refresh, though
// the lock and the artifact store hold them, and keeps the lock otherwise.
func TestLockRefresh(t *testing.T) {
	dir := t.TempDir()
	if err := setupWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	fake := llmtest.NewFakeOpenAI(t)
	fake.Answer("```python\ndef handler(event, context):\n    return 1\n```\n")
	os.WriteFile(filepath.Join(dir, "study.cue"), []byte(lockStudy(fake.URL+"/v1", "", 1, 5000, 100)), 0o644)
	c := &cli{t: t, dir: dir, env: map[string]string{"FAKE_OPENAI_API_KEY": fakeKey}}
	c.mustRun("lock", "study.cue", "--out", "out", "--quiet")
	code := filepath.Join(dir, "t.lock/gpt/primes/long/0/handler.py")
	if b, _ := os.ReadFile(code); !strings.Contains(string(b), "return 1") {
		t.Fatalf("locked code %q", b)
	}
	// Without --refresh, a new results directory (no cache) takes the
	// lock's generations and calls nothing.
	fake.Answer("```python\ndef handler(event, context):\n    return 2\n```\n")
	c.mustRun("lock", "study.cue", "--out", "other", "--quiet")
	if b, _ := os.ReadFile(code); fake.Requests() != 2 || !strings.Contains(string(b), "return 1") {
		t.Fatalf("lock without --refresh: %d requests, code %q; want 2 and the locked code", fake.Requests(), b)
	}
	c.mustRun("lock", "study.cue", "--out", "out", "--quiet", "--refresh")
	if b, _ := os.ReadFile(code); fake.Requests() != 4 || !strings.Contains(string(b), "return 2") {
		t.Fatalf("lock --refresh: %d requests, code %q; want 4 and the new answer", fake.Requests(), b)
	}
	// A refresh that fails leaves the lock as it was.
	before := readTree(t, filepath.Join(dir, "t.lock"))
	fake.Fail(400)
	code2, _, stderr := c.run("lock", "study.cue", "--out", "out", "--quiet", "--refresh")
	if code2 != exitFailure || !strings.Contains(stderr, "the lock was not written") {
		t.Errorf("failed refresh: exit %d, stderr %q", code2, stderr)
	}
	if after := readTree(t, filepath.Join(dir, "t.lock")); !mapsEqual(before, after) {
		t.Error("a failed refresh changed the lock")
	}
	noSecret(t, c.output.Bytes(), "stdout and stderr")
	noSecretIn(t, filepath.Join(dir, "out"))
	noSecretIn(t, filepath.Join(dir, "t.lock"))
}
