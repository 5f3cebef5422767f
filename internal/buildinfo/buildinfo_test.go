package buildinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	const rev = "abc123def4567890abc123def4567890abc12345"
	vcs := func(revision, modified string) []debug.BuildSetting {
		s := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: revision}}
		if modified != "" {
			s = append(s, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return s
	}
	tests := []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"devel build of a clean tree", "(devel)", vcs(rev, "false"), "devel+abc123def456"},
		{"devel build of a dirty tree", "(devel)", vcs(rev, "true"), "devel+abc123def456-dirty"},
		{"devel build without VCS info", "(devel)", nil, "devel (no VCS info)"},
		{"empty version (go run, tests)", "", vcs(rev, "false"), "devel+abc123def456"},
		{"empty version without VCS info", "", nil, "devel (no VCS info)"},
		{"short revision", "(devel)", vcs("abc12", ""), "devel+abc12"},
		{"go install at a tag", "v1.2.3", nil, "v1.2.3"},
		{"pseudo-version of a clean tree", "v0.0.0-20260101120000-abc123def456", vcs(rev, "false"), "v0.0.0-20260101120000-abc123def456"},
		{"pseudo-version the toolchain marked dirty", "v0.0.0-20260101120000-abc123def456+dirty", vcs(rev, "true"), "v0.0.0-20260101120000-abc123def456+dirty"},
		{"tag in a dirty tree, unmarked", "v1.2.3", vcs(rev, "true"), "v1.2.3+dirty"},
	}
	for _, tt := range tests {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/faaslab/faaslab", Version: tt.version}, Settings: tt.settings}
		if got := versionOf(bi); got != tt.want {
			t.Errorf("%s: versionOf = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := versionOf(nil); got != "unknown (no build info)" {
		t.Errorf("versionOf(nil) = %q", got)
	}
}

func TestVersionOfThisBuild(t *testing.T) {
	v := Version()
	if v == "" || strings.Contains(v, "(devel)") {
		t.Errorf("Version() = %q: want a version, a revision or a plain statement that there is none", v)
	}
}

// gitRepo makes a git repository in a new temporary directory with one
// committed file, a.txt, and returns its directory and commit.
func gitRepo(t *testing.T) (dir, commit string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		// A test repository must not read the runner's git configuration.
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	write(t, filepath.Join(dir, "a.txt"), "one\n")
	run("add", "a.txt")
	run("commit", "-q", "-m", "first")
	return dir, run("rev-parse", "HEAD")
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGitCommit(t *testing.T) {
	ctx := context.Background()
	dir, commit := gitRepo(t)
	if !regexp.MustCompile(`^[0-9a-f]{40,64}$`).MatchString(commit) {
		t.Fatalf("commit %q", commit)
	}
	if got := GitCommit(ctx, dir); got != commit {
		t.Errorf("clean tree: %q, want %q", got, commit)
	}
	// A study in a subdirectory names the repository's commit.
	write(t, filepath.Join(dir, "studies", "s.cue"), "x: 1\n")
	if got := GitCommit(ctx, filepath.Join(dir, "studies")); got != commit {
		t.Errorf("untracked files only, from a subdirectory: %q, want %q (untracked files do not count)", got, commit)
	}
	write(t, filepath.Join(dir, "a.txt"), "two\n")
	if got := GitCommit(ctx, dir); got != commit+"-dirty" {
		t.Errorf("modified tracked file: %q, want %q", got, commit+"-dirty")
	}
	cmd := exec.Command("git", "-C", dir, "add", "a.txt")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	if got := GitCommit(ctx, dir); got != commit+"-dirty" {
		t.Errorf("staged change: %q, want %q", got, commit+"-dirty")
	}
	if got := GitCommit(ctx, t.TempDir()); got != "" {
		t.Errorf("outside a repository: %q, want \"\"", got)
	}
}

func TestGitCommitOfRepositoryWithoutCommits(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	if got := GitCommit(context.Background(), dir); got != "" {
		t.Errorf("repository without commits: %q, want \"\"", got)
	}
}
