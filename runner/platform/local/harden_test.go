package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestWorkDirRefused checks that New refuses a work directory that
// another user controls, or reaches through a link, and changes nothing
// through such a link.
func TestWorkDirRefused(t *testing.T) {
	newPlatform(t, Options{}) // skips when the platform is unavailable
	if os.Geteuid() != 0 {
		t.Skip("needs root to create other users' directories")
	}
	// t.TempDir makes base and its parent 0700.
	base := t.TempDir()
	for _, dir := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// victim is what a planted link points at; its mode must stay.
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string) string // returns the WorkDir
		want  string
	}{
		{"owned by another user", func(dir string) string {
			must(os.Mkdir(dir, 0o711))
			must(os.Chown(dir, 65534, 65534))
			return dir
		}, "is owned by uid 65534"},
		{"world-writable", func(dir string) string {
			must(os.Mkdir(dir, 0o777))
			must(os.Chmod(dir, 0o777))
			return dir
		}, "is writable by its group or others (mode 0777)"},
		{"a link", func(dir string) string {
			must(os.Symlink(victim, dir))
			return dir
		}, "is a symbolic link"},
		{"a link planted inside", func(dir string) string {
			must(os.Mkdir(dir, 0o711))
			must(os.Symlink(victim, filepath.Join(dir, "deployments")))
			return dir
		}, "deployments is a symbolic link"},
		{"a file planted inside", func(dir string) string {
			must(os.Mkdir(dir, 0o711))
			must(os.WriteFile(filepath.Join(dir, "deployments"), nil, 0o644))
			return dir
		}, "deployments is not a directory"},
		{"in another user's directory", func(dir string) string {
			must(os.Mkdir(dir, 0o755))
			must(os.Chown(dir, 65534, 65534))
			return filepath.Join(dir, "work")
		}, "is owned by uid 65534, neither root"},
		{"in a world-writable directory", func(dir string) string {
			must(os.Mkdir(dir, 0o777))
			must(os.Chmod(dir, 0o777))
			return filepath.Join(dir, "work")
		}, "and not sticky"},
		{"in a directory the sandbox cannot traverse", func(dir string) string {
			must(os.Mkdir(dir, 0o700))
			return filepath.Join(dir, "work")
		}, "cannot be traversed by the sandbox's uid 65534"},
	} {
		dir := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
		work := tc.setup(dir)
		p, err := New(Options{WorkDir: work})
		if err == nil {
			checkNoLeftovers(t, p)
			t.Errorf("%s: New accepted work dir %s", tc.name, work)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: New: %v, want %q naming %s", tc.name, err, tc.want, dir)
		}
		if work != dir {
			if _, err := os.Lstat(work); !os.IsNotExist(err) {
				t.Errorf("%s: New created %s before refusing: %v", tc.name, work, err)
			}
		}
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("a link's target changed: %v, %v", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(victim); len(entries) > 0 {
		t.Errorf("New wrote through a link: %v", entries)
	}

	// A safe new directory, behind a link, is made and used as resolved.
	real := filepath.Join(base, "real")
	must(os.Mkdir(real, 0o755))
	must(os.Symlink(real, filepath.Join(base, "link")))
	p := newPlatform(t, Options{WorkDir: filepath.Join(base, "link", "a", "work")})
	if want := filepath.Join(real, "a", "work"); p.opts.WorkDir != want {
		t.Errorf("work dir %s, want %s", p.opts.WorkDir, want)
	}
	for _, dir := range []string{filepath.Join(real, "a"), p.opts.WorkDir, filepath.Dir(p.deployDir), p.deployDir} {
		if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o711 {
			t.Errorf("%s: mode %v, %v; want 0711", dir, fi.Mode(), err)
		}
	}
	d := deployDir(t, p, "echo", nil)
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
}

// TestForkThreadSurvivesFailedMove makes the fork thread fail to move
// back out of a new container's groups, and checks that the start fails
// cleanly while the thread, and so every container it forked (which get
// Pdeathsig from it), lives on and starts the next container.
func TestForkThreadSurvivesFailedMove(t *testing.T) {
	p := newPlatform(t, Options{NoFreeze: true})
	warm := deployDir(t, p, "echo", nil)
	first := platformtest.Invoke(t, warm, `{}`)
	platformtest.Want(t, first, platform.StatusOK, "")

	// The fork thread reads writeTasks after it receives a request, and
	// this test changes it only between requests.
	ours := "/" + p.opts.CgroupParent + "/" + p.groupPrefix
	writeTasks = func(path, value string) error {
		if !strings.Contains(path, ours) {
			return errors.New("injected failure")
		}
		return writeFile(path, value)
	}
	d := deployDir(t, p, "echo", nil)
	_, err := d.Invoke(context.Background(), []byte(`{}`))
	writeTasks = writeFile
	if err == nil || !strings.Contains(err.Error(), "move fork thread back") {
		t.Fatalf("Invoke while the fork thread cannot move back: %v, want its failure", err)
	}

	again := platformtest.Invoke(t, warm, `{}`)
	platformtest.Want(t, again, platform.StatusOK, "")
	if again.Cold || again.ContainerID != first.ContainerID {
		t.Errorf("the warm container died with the failed start: cold %v, log %q", again.Cold, again.Log)
	}
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")

	// The failed start's group could not be removed while the thread was
	// in it; it is empty now.
	for _, dl := range []platform.Deployment{warm, d} {
		if err := dl.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	for _, pattern := range p.cgroups.dirs(p.groupPrefix + "*") {
		left, _ := filepath.Glob(pattern)
		for _, dir := range left {
			if err := os.Remove(dir); err != nil {
				t.Errorf("remove the failed start's group: %v", err)
			}
		}
	}
}
