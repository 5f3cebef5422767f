package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestContainersWeighedAsSessions checks, for real, that deploying gives
// faaslab's parent group one nice-0 entity's CPU weight per live
// deployment, so that its containers together do not share what one
// session of the host gets (see deploy.go), and that closing them gives
// the weight back. The platform has a work directory and a parent group
// of its own, which no other runner on the host adds to.
func TestContainersWeighedAsSessions(t *testing.T) {
	// t.TempDir makes base and its parent 0700; the sandbox's uid must
	// traverse them.
	base := t.TempDir()
	for _, dir := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var p *Platform
	// Registered first, so that it runs last, when the deployments have
	// gone: it removes the parent groups and the freezer's anchor.
	t.Cleanup(func() {
		if p == nil {
			return
		}
		for _, dir := range p.cgroups.dirs("") {
			children, _ := filepath.Glob(filepath.Join(dir, "*", "cgroup.procs"))
			for _, procs := range children {
				syscall.Rmdir(filepath.Dir(procs))
			}
			if err := syscall.Rmdir(dir); err != nil {
				t.Errorf("remove the test's parent group %s: %v", dir, err)
			}
		}
	})
	p = newPlatform(t, Options{WorkDir: filepath.Join(base, "work"), CgroupParent: fmt.Sprintf("faaslab-weigh-%d", os.Getpid())})
	weight := func() (int, int) {
		switch h := p.cgroups.driver.(type) {
		case *cgroupV1:
			data, err := os.ReadFile(filepath.Join(h.dir("cpu", "/"+h.parent), "cpu.shares"))
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return n, sessionSharesV1
		case *cgroupV2:
			data, err := os.ReadFile(filepath.Join(h.parentDir(), "cpu.weight"))
			if err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return n, sessionWeightV2
		}
		t.Fatalf("driver %T", p.cgroups.driver)
		return 0, 0
	}
	var deps []platform.Deployment
	for i := 1; i <= 3; i++ {
		deps = append(deps, deployDir(t, p, "echo", func(fn *platform.Function) { fn.Name = "weigh-" + strconv.Itoa(i) }))
		if w, session := weight(); w != i*session {
			t.Errorf("after %d deployments the parent weighs %d, want %d", i, w, i*session)
		}
	}
	// A container counts while it lives, even when its deployment's
	// directory is gone; so each close below closes a deployment that ran.
	for _, d := range deps {
		platformtest.Invoke(t, d, `{}`)
	}
	for i, d := range deps {
		if err := d.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if w, session := weight(); w != max(len(deps)-i-1, 1)*session {
			t.Errorf("after closing %d of %d deployments the parent weighs %d, want %d", i+1, len(deps), w, max(len(deps)-i-1, 1)*session)
		}
	}
}

// TestSetParentWeight checks the weights written on the fake cgroup v2
// tree, and their cap.
func TestSetParentWeight(t *testing.T) {
	f, d := fakeV2Host(t)
	for _, tc := range []struct{ n, want int }{{1, 100}, {3, 300}, {250, 10000}} {
		if err := setParentWeight(d, tc.n); err != nil {
			t.Fatal(err)
		}
		if got := f.content(t, "faaslab/cpu.weight"); got != strconv.Itoa(tc.want) {
			t.Errorf("%d deployments: cpu.weight %s, want %d", tc.n, got, tc.want)
		}
	}
	// The driver's core, without controllers, writes nothing.
	core := *d
	core.controllers = nil
	f.writes = nil
	if err := setParentWeight(&core, 5); err != nil || len(f.writes) > 0 {
		t.Errorf("core driver: %v, writes %q", err, f.writes)
	}
}
