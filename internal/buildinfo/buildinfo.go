// Package buildinfo names the faaslab build that made a run, and the
// commit of the repository holding the study, for the tables' manifest.
package buildinfo

import (
	"context"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"
)

// Version names the running build: its module version when it was built
// as a module (go install ...@v1.2.3, or a pseudo-version), else
// "devel+<revision>" from the VCS revision the go command stamped, with
// "-dirty" when the tree had uncommitted changes. A build without VCS
// information (-buildvcs=false, or a directory outside any repository) is
// "devel (no VCS info)"; never the bare "(devel)" of the Go toolchain.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionOf(nil)
	}
	return versionOf(bi)
}

// versionOf is Version for the build information bi (nil: none).
func versionOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unknown (no build info)"
	}
	var revision string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		if modified && !strings.Contains(v, "dirty") {
			v += "+dirty"
		}
		return v
	}
	if revision == "" {
		return "devel (no VCS info)"
	}
	v := "devel+" + revision[:min(12, len(revision))]
	if modified {
		v += "-dirty"
	}
	return v
}

// GitCommit is the commit checked out in the git repository holding dir,
// followed by "-dirty" when tracked files differ from it (staged or not),
// as `git describe --dirty` marks a tree; files git does not track are not
// counted. It is "" when dir is in no repository or git is not installed.
func GitCommit(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	git := func(args ...string) (string, error) {
		// --no-optional-locks: status must not write the index of a
		// repository another process may be using.
		cmd := exec.CommandContext(ctx, "git", append([]string{"--no-optional-locks", "-C", dir}, args...)...)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	commit, err := git("rev-parse", "--verify", "HEAD")
	if err != nil || commit == "" {
		return ""
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return commit
	}
	if status != "" {
		commit += "-dirty"
	}
	return commit
}
