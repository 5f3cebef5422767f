package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
)

// TestContainersWeighedAsSessions checks, for real, that deploying gives
// faaslab's parent group one nice-0 entity's CPU weight per live
// deployment, so that its containers together do not share what one
// session of the host gets (see deploy.go).
func TestContainersWeighedAsSessions(t *testing.T) {
	p := newPlatform(t, Options{})
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
	for i := 1; i <= 3; i++ {
		deployDir(t, p, "echo", func(fn *platform.Function) { fn.Name = "weigh-" + strconv.Itoa(i) })
		// Other runners on the host may add to it, never take away.
		if w, session := weight(); w < i*session {
			t.Errorf("after %d deployments the parent weighs %d, want at least %d", i, w, i*session)
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
