package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickstartWith writes experiments/quickstart.cue with extra appended
// (CUE unifies it with the study) into a copy of the example's directory,
// and returns its path.
func quickstartWith(t *testing.T, extra string) string {
	t.Helper()
	examples, err := filepath.Abs("../experiments")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := os.CopyFS(filepath.Join(dir, e.Name()), os.DirFS(filepath.Join(examples, e.Name()))); err != nil {
				t.Fatal(err)
			}
		}
	}
	study, err := os.ReadFile(filepath.Join(examples, "quickstart.cue"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "study.cue")
	if err := os.WriteFile(path, append(study, "\n"+extra+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEphemeralMB checks that ephemeral_mb is set per task or per
// platform, the task's winning, and that values outside Lambda's 512–10,240
// MB are refused with an error naming the field and its line.
func TestEphemeralMB(t *testing.T) {
	s, err := Load(quickstartWith(t, "tasks: primes: ephemeral_mb: 2048\nplatforms: local: ephemeral_mb: 1024"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		task, platform string
		want           int
	}{
		{"primes", "local", 2048},
		{"median", "local", 1024},
		{"median", "aws", 0},
	} {
		if got := EphemeralMB(s.Tasks[tc.task], s.Platforms[tc.platform]); got != tc.want {
			t.Errorf("task %s on %s: ephemeral %d MB, want %d", tc.task, tc.platform, got, tc.want)
		}
	}

	for _, tc := range []struct{ extra, field string }{
		{"tasks: primes: ephemeral_mb: 256", "tasks.primes.ephemeral_mb"},
		{"platforms: local: ephemeral_mb: 20480", "platforms.local.ephemeral_mb"},
		{`tasks: primes: ephemeral_mb: "1G"`, "tasks.primes.ephemeral_mb"},
	} {
		path := quickstartWith(t, tc.extra)
		data, _ := os.ReadFile(path)
		line := fmt.Sprintf("study.cue:%d:", strings.Count(string(data), "\n"))
		_, err := Load(path, Options{})
		if err == nil || !strings.Contains(err.Error(), line) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error at %s naming %s", tc.extra, err, line, tc.field)
		} else {
			t.Log(err)
		}
	}
}
