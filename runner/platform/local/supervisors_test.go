package local

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestSupervisorLeavesFreezer checks, on cgroup v1, that a warm
// container's freezer group holds the runtime and everything it left
// behind (a busy child, a spinning thread, a grandchild orphaned to the
// sandbox's init) and the sandbox's init, which the function can ptrace,
// but not the outer bubblewrap, which stays in the container's other
// groups; and that, frozen, the container uses no CPU although the
// function left busy work behind.
func TestSupervisorLeavesFreezer(t *testing.T) {
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "hostile/background_child", nil)
	dep := d.(*deployment)
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
	if err := dep.waitIdle(); err != nil {
		t.Fatal(err)
	}
	g, ok := dep.c.cg.group.(*v1Group)
	if !ok || !g.canFreeze() {
		t.Skip("the supervisors leave the freezer on cgroup v1 with a freezer only")
	}
	if !dep.c.cg.waitFrozen(time.Minute) {
		t.Fatal("the idle container is not frozen")
	}
	read := func(controller string) []int {
		data, err := os.ReadFile(filepath.Join(g.dirs[controller], "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		return parsePids(data)
	}
	all, frozen := read("pids"), read("freezer")
	outer := dep.c.cmd.Process.Pid
	inner := childrenOf(t, outer)
	if len(inner) != 1 {
		t.Errorf("the outer bubblewrap %d has children %v, want one, the sandbox's init", outer, inner)
	}
	if !slices.Contains(all, outer) {
		t.Errorf("the outer bubblewrap %d left the container's pids group %v", outer, all)
	}
	if slices.Contains(frozen, outer) {
		t.Errorf("the outer bubblewrap %d is still in the freezer group %v", outer, frozen)
	}
	// The sandbox's init, the runtime, its busy child, the shell's
	// orphaned sleep.
	if rest := slices.DeleteFunc(slices.Clone(all), func(pid int) bool { return pid == outer }); len(rest) < 4 || !slices.Equal(sorted(rest), sorted(frozen)) {
		t.Errorf("freezer group holds %v, want every process but the outer bubblewrap %d of %v (at least 4)", frozen, outer, all)
	}
	for _, pid := range inner {
		if !slices.Contains(frozen, pid) {
			t.Errorf("the sandbox's init %d, which the function can ptrace, left the freezer group %v", pid, frozen)
		}
	}
	dep.c.cg.markCPU()
	time.Sleep(300 * time.Millisecond)
	if u, err := dep.c.cg.cpuSinceMark(); err != nil || u.usage > 5*time.Millisecond {
		t.Errorf("the frozen container used %v of CPU in 300 ms (err %v), want none", u.usage, err)
	}
	// Warm calls still thaw everything the function runs.
	for i := 0; i < 3; i++ {
		if inv := platformtest.Invoke(t, d, `{}`); inv.Cold || inv.Status != platform.StatusOK {
			t.Fatalf("call %d: cold=%v status %s, want the warm container", i, inv.Cold, inv.Status)
		}
	}
}

func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	return parsePids(data)
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
