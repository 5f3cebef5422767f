package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the cgroup v2 driver on the host's real cgroup2
// hierarchy, found in /proc/self/mountinfo: first as root, then as an
// unprivileged uid in a subtree that root delegates to it as systemd's
// Delegate=yes does. A hybrid host whose controllers are all bound to
// cgroup v1 mounts a v2 hierarchy with none (only its core files:
// cgroup.procs, cgroup.freeze, cgroup.kill, cgroup.events, cpu.stat's
// usage): there they run the driver's core alone, and the files of
// controllers (memory.max, memory.swap.max, cpu.max, pids.max,
// memory.peak, memory.events, cpu.stat's throttling) stay tested against
// the fake tree only (cgroup_v2_test.go). On a host whose v2 hierarchy
// offers memory, cpu and pids they run the whole driver.
//
// They create groups only beneath one group of their own at the
// hierarchy's root, and remove it, with whatever is in it, even when they
// fail. They never write a file of a group they did not create.

// v2DelegatedEnv passes TestCgroupV2RealDelegatedChild the delegated
// group, its root-owned parent and sibling, and the pid of a process of
// its uid in that sibling, as "SCOPE:TOP:OUTSIDE:PID".
const v2DelegatedEnv = "FAASLAB_V2_DELEGATED"

// realV2Mount returns the host's cgroup v2 mount, or skips the test.
func realV2Mount(t *testing.T) cgroupMount {
	t.Helper()
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("cannot read /proc/self/mountinfo: %v", err)
	}
	if mounts.v2 == nil {
		t.Skip("no cgroup2 hierarchy in /proc/self/mountinfo: the v2 driver is tested against the fake tree only")
	}
	return *mounts.v2
}

// makeTopGroup creates a group of the test's at the hierarchy's root and
// removes it, and everything beneath it, when the test ends. It first
// removes the groups of the same name that a test process that no longer
// runs left behind (killed before its cleanup ran).
func makeTopGroup(t *testing.T, m cgroupMount, name string) string {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(m.point, name+"-*"))
	for _, dir := range left {
		pid, err := strconv.Atoi(strings.Split(strings.TrimPrefix(filepath.Base(dir), name+"-"), "-")[0])
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			removeV2Tree(t, dir)
		}
	}
	top := filepath.Join(m.point, fmt.Sprintf("%s-%d-%s", name, os.Getpid(), randomHex(3)))
	if err := os.Mkdir(top, 0o755); err != nil {
		t.Skipf("cannot create a cgroup v2 group at %s: %v", m.point, err)
	}
	t.Cleanup(func() { removeV2Tree(t, top) })
	return top
}

// removeV2Tree kills every process in the v2 group dir and its
// descendants, waits for them to leave, and removes the groups, deepest
// first.
func removeV2Tree(t *testing.T, dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		writeFile(filepath.Join(d, "cgroup.kill"), "1")
		writeFile(filepath.Join(d, "cgroup.freeze"), "0")
		if !waitEvent(d, "populated", 0, time.Minute) {
			t.Errorf("clean up: %s still populated", d)
		}
		if err := removeDir(realCgroupFS{}.rmdir, d); err != nil {
			t.Errorf("clean up: %v", err)
		}
	}
}

// event reads key from the v2 group dir's cgroup.events.
func event(dir, key string) (int64, error) {
	m, err := readKeyed(os.ReadFile, filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return 0, err
	}
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("%s/cgroup.events has no %q", dir, key)
	}
	return v, nil
}

// waitEvent reports whether key in dir's cgroup.events became want
// within d.
func waitEvent(dir, key string, want int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if v, err := event(dir, key); err == nil && v == want || errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// controllerFiles are the v2 files that need a controller; where the
// hierarchy offers none, a group has none of them.
var controllerFiles = []string{"memory.max", "memory.swap.max", "memory.peak", "memory.events", "cpu.max", "pids.max"}

// realV2Driver returns the v2 driver for groups beneath base: the whole
// driver where base offers memory, cpu and pids, and otherwise the
// driver's core, saying so.
func realV2Driver(t *testing.T, m cgroupMount, base string) *cgroupV2 {
	t.Helper()
	self, err := readSelfCgroup("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	h := &cgroupV2{fs: realCgroupFS{}, mount: m.point, base: base, parent: "faaslab", selfPath: self,
		euid: os.Geteuid(), controllers: requiredControllers}
	if err := h.offers(base); err != nil {
		if inV2VM() {
			t.Fatalf("in TestCgroupV2VM's VM, whose cgroup v2 hierarchy has every controller: %v", err)
		}
		t.Logf("the driver's core only, on the real kernel: %v.\n"+
			"%s and cpu.stat's throttling are absent from this hierarchy (its controllers are bound to cgroup v1), "+
			"so they stay tested against the fake tree only (TestCgroupV2CreateWithLimits, TestCgroupV2Counters)",
			err, strings.Join(controllerFiles, ", "))
		h.controllers = nil
	}
	return h
}

// groupPath returns the v2 group at dir as /proc/<pid>/cgroup names it.
func groupPath(m cgroupMount, dir string) string {
	return filepath.Join(m.root, strings.TrimPrefix(dir, m.point))
}

// startInGroup starts argv in the group g, as the platform starts a
// container, and returns it with a channel that gets its exit. The test's
// end kills it.
func startInGroup(t *testing.T, g group, argv ...string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := g.start(cmd, nil); err != nil {
		t.Fatalf("start %s into the group: %v", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, done
}

// processCPU returns the user and system CPU time of process pid from
// /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100), nil // USER_HZ is 100 on Linux
}

// waitCPU waits up to a minute until the group has used at least want
// since its mark, and returns what it used.
func waitCPU(t *testing.T, cg *cgroup, want time.Duration) cpuUsage {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		u, err := cg.cpuSinceMark()
		if err != nil {
			t.Fatal(err)
		}
		if u.usage >= want || time.Now().After(deadline) {
			return u
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exerciseV2 runs the driver's operations on the real hierarchy: prepare,
// create, start into the group, cpu.stat's usage, freezing until
// cgroup.events says frozen, thawing, cgroup.kill until populated 0,
// removal, and the reaping of a dead runner's group.
func exerciseV2(t *testing.T, m cgroupMount, h *cgroupV2) {
	if err := h.prepare(); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	name := "c1"
	g, err := h.create(name, limits{memoryBytes: 256 << 20, cpuQuotaUS: cpuPeriodUS, initCPUQuotaUS: cpuPeriodUS, pidsMax: 64})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	dir := h.dirs(name)[0]
	for _, file := range controllerFiles {
		_, err := os.Stat(filepath.Join(dir, file))
		switch {
		case h.controllers == nil && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s in a group of a hierarchy without controllers: %v", file, err)
		case h.controllers != nil && err != nil && file != "memory.swap.max" && file != "memory.peak":
			t.Errorf("%s: %v", file, err)
		}
	}
	if h.controllers != nil {
		if data, _ := os.ReadFile(filepath.Join(dir, "memory.max")); strings.TrimSpace(string(data)) != "268435456" {
			t.Errorf("memory.max %q", data)
		}
	}

	// Processes start in the group (CLONE_INTO_CGROUP).
	sleeper, sleeperDone := startInGroup(t, g, "sleep", "300")
	busy, busyDone := startInGroup(t, g, "/bin/sh", "-c", "while :; do :; done")
	for _, cmd := range []*exec.Cmd{sleeper, busy} {
		in, err := readSelfCgroup(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
		if err != nil || in != groupPath(m, dir) {
			t.Errorf("process %d in %q (%v), want %q", cmd.Process.Pid, in, err, groupPath(m, dir))
		}
	}
	if pids, err := g.procs(); err != nil || len(pids) != 2 {
		t.Errorf("procs %v %v, want the two processes", pids, err)
	}
	if v, err := event(dir, "populated"); err != nil || v != 1 {
		t.Errorf("populated %d %v, want 1", v, err)
	}

	// CPU usage, from cpu.stat as the driver reads it, grows with the
	// busy loop's and covers it.
	cg := &cgroup{group: g}
	cg.markCPU()
	u := waitCPU(t, cg, 200*time.Millisecond)
	if u.usage < 200*time.Millisecond {
		t.Fatalf("the group used %v of CPU in a minute of a busy loop", u.usage)
	}
	if user, system := u.times(); user+system != u.usage || u.user+u.system <= 0 {
		t.Errorf("usage %v split into user %v and system %v (samples %v and %v)", u.usage, user, system, u.user, u.system)
	}
	procCPU, err := processCPU(busy.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	total, err := cg.cpuUsage()
	if err != nil {
		t.Fatal(err)
	}
	if total.usage+20*time.Millisecond < procCPU {
		t.Errorf("the group's usage %v is below its busy process's %v", total.usage, procCPU)
	}

	// Frozen: cgroup.events says so, and the busy loop uses no CPU.
	if err := cg.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	if !cg.waitFrozen(time.Minute) {
		t.Fatalf("never frozen")
	}
	if v, err := event(dir, "frozen"); err != nil || v != 1 {
		t.Errorf("cgroup.events frozen %d %v after waitFrozen", v, err)
	}
	cg.markCPU()
	time.Sleep(300 * time.Millisecond)
	if u, err := cg.cpuSinceMark(); err != nil || u.usage > 10*time.Millisecond {
		t.Errorf("a frozen busy loop used %v of CPU in 300ms (%v)", u.usage, err)
	}
	if err := cg.setFrozen(false); err != nil {
		t.Fatal(err)
	}
	if !waitEvent(dir, "frozen", 0, time.Minute) || cg.isFrozen() {
		t.Errorf("still frozen after thawing")
	}
	cg.markCPU()
	if u := waitCPU(t, cg, 50*time.Millisecond); u.usage < 50*time.Millisecond {
		t.Errorf("the thawed busy loop used %v in a minute", u.usage)
	}

	// The parent lists the group; open finds it as create made it.
	if names, err := h.children(); err != nil || !slices.Contains(names, name) {
		t.Errorf("children %v %v, want %s", names, err, name)
	}
	if pids, err := h.open(name).procs(); err != nil || len(pids) != 2 {
		t.Errorf("open(%s).procs() %v %v", name, pids, err)
	}

	// kill: cgroup.kill, and the group empties (populated 0).
	if err := cg.kill(time.Minute, 0); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if !waitEvent(dir, "populated", 0, time.Minute) {
		t.Errorf("populated after kill")
	}
	for _, done := range []<-chan error{sleeperDone, busyDone} {
		if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("process ended with %v, want killed", err)
		}
	}
	if err := cg.remove(); err != nil {
		t.Errorf("remove: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("group still there after remove: %v", err)
	}

	// A group left by a dead runner (a pid above any pid_max) is reaped
	// with its process.
	stale := "4194999.1-c1"
	sg, err := h.create(stale, limits{memoryBytes: 128 << 20, cpuQuotaUS: cpuPeriodUS, initCPUQuotaUS: cpuPeriodUS, pidsMax: 64})
	if err != nil {
		t.Fatal(err)
	}
	_, staleDone := startInGroup(t, sg, "sleep", "300")
	if reaped := reapStaleGroups(h); !slices.Equal(reaped, []string{stale}) {
		t.Errorf("reaped %v, want %s", reaped, stale)
	}
	if err := <-staleDone; err == nil {
		t.Errorf("the stale group's process was not killed")
	}
	if err := h.fs.rmdir(h.parentDir()); err != nil {
		t.Errorf("remove the parent: %v", err)
	}
}

// TestCgroupV2Real runs the v2 driver as root on the host's cgroup2
// hierarchy, beneath a group of the test's at its root.
func TestCgroupV2Real(t *testing.T) {
	m := realV2Mount(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create groups at the cgroup2 hierarchy's root (TestCgroupV2RealDelegated runs it unprivileged)")
	}
	top := makeTopGroup(t, m, "faaslab-v2test")
	exerciseV2(t, m, realV2Driver(t, m, top))
}

// TestCgroupV2RealDelegated delegates a group to uid rootlessUID as
// systemd's Delegate=yes delegates a scope (the directory and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads, as the
// kernel's cgroup-v2 documentation describes delegation, and the
// trusted.delegate mark), and runs TestCgroupV2RealDelegatedChild as that
// uid in it.
func TestCgroupV2RealDelegated(t *testing.T) {
	if os.Getenv(v2DelegatedEnv) != "" {
		t.Skip("the child runs TestCgroupV2RealDelegatedChild")
	}
	m := realV2Mount(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root, to delegate a cgroup v2 group to an unprivileged uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	// top stands for the slice above a user's scope, owned by root.
	top := makeTopGroup(t, m, "faaslab-v2deleg")
	scope := filepath.Join(top, "run-u1.scope")
	outside := filepath.Join(top, "outside")
	for _, dir := range []string{scope, outside} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&cgroupV2{fs: realCgroupFS{}, controllers: requiredControllers}).offers(top); err == nil {
		// Controllers for the scope, as systemd enables them.
		if err := writeFile(filepath.Join(top, "cgroup.subtree_control"), "+memory +cpu +pids"); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{scope, filepath.Join(scope, "cgroup.procs"),
		filepath.Join(scope, "cgroup.subtree_control"), filepath.Join(scope, "cgroup.threads")} {
		if err := os.Chown(path, rootlessUID, rootlessUID); err != nil {
			t.Fatal(err)
		}
	}
	// systemd marks the groups it delegates; the driver reads the mark.
	if err := syscall.Setxattr(scope, "trusted.delegate", []byte("1"), 0); err != nil {
		t.Logf("cannot mark the scope delegated (%v): realCgroupFS.delegated untested", err)
	} else if !(realCgroupFS{}).delegated(scope) || (realCgroupFS{}).delegated(top) {
		t.Errorf("delegated(scope) %v, delegated(top) %v: want true and false",
			realCgroupFS{}.delegated(scope), realCgroupFS{}.delegated(top))
	}

	// A process of the same uid outside the delegated subtree.
	outsider := exec.Command("sleep", "300")
	outsideFD, err := os.Open(outside)
	if err != nil {
		t.Fatal(err)
	}
	defer outsideFD.Close()
	outsider.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID},
		UseCgroupFD: true, CgroupFD: int(outsideFD.Fd())}
	if err := outsider.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outsider.Process.Kill(); outsider.Wait() })

	work, bin := unprivilegedBinary(t, "faaslab-v2deleg-")
	// The shell moves itself into the scope, and then becomes the
	// unprivileged child, which stays in it.
	script := `echo $$ > "$SCOPE/cgroup.procs" || exit 1; exec "$SETPRIV" --reuid=$ID --regid=$ID --clear-groups -- "$BIN" -test.run '^TestCgroupV2RealDelegatedChild$' -test.v -test.count=1`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "SETPRIV="+setpriv, "ID="+strconv.Itoa(rootlessUID), "BIN="+bin, "SCOPE="+scope,
		v2DelegatedEnv+"="+strings.Join([]string{scope, top, outside, strconv.Itoa(outsider.Process.Pid)}, ":"),
		"HOME="+work, "TMPDIR="+work)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("delegated child (uid %d, scope %s):\n%s", rootlessUID, scope, out.String())
	if err != nil {
		t.Fatalf("delegated child: %v", err)
	}
	if !strings.Contains(out.String(), "--- PASS: TestCgroupV2RealDelegatedChild") {
		t.Fatalf("the delegated child did not run TestCgroupV2RealDelegatedChild")
	}
	if in, _ := readSelfCgroup(fmt.Sprintf("/proc/%d/cgroup", outsider.Process.Pid)); in != groupPath(m, outside) {
		t.Errorf("the outsider moved to %s", in)
	}
}

// TestCgroupV2RealDelegatedChild is TestCgroupV2RealDelegated's
// unprivileged half: the driver in the delegated scope, and what the
// delegation keeps from it.
func TestCgroupV2RealDelegatedChild(t *testing.T) {
	env := os.Getenv(v2DelegatedEnv)
	if env == "" {
		t.Skip("run by TestCgroupV2RealDelegated")
	}
	if os.Geteuid() == 0 {
		t.Fatal("the delegated child runs as root")
	}
	parts := strings.Split(env, ":")
	scope, top, outside := parts[0], parts[1], parts[2]
	outsider, _ := strconv.Atoi(parts[3])
	m := realV2Mount(t)
	h := realV2Driver(t, m, scope)
	if h.selfPath != groupPath(m, scope) {
		t.Fatalf("the child runs in %s, want the scope %s", h.selfPath, groupPath(m, scope))
	}

	// The driver's check before any write: it may create groups in the
	// scope, not in the root-owned group above it.
	if err := h.mayCreateIn(scope); err != nil {
		t.Errorf("mayCreateIn(scope): %v", err)
	}
	if err := h.mayCreateIn(top); !IsUnavailable(err) || !strings.Contains(err.Error(), "Delegate=yes") {
		t.Errorf("mayCreateIn(the scope's parent): %v, want unavailable, naming a delegated scope", err)
	}

	// No internal processes: the runner leaves the scope for a leaf of
	// its own. prepare does this when the kernel refuses to enable
	// controllers for the children of the scope that holds it; without
	// controllers nothing refuses, and the test moves it.
	runnerLeaf := filepath.Join(scope, h.parent+"-runner")
	move := func() error { return h.moveProcesses(scope, runnerLeaf) }
	if h.controllers != nil {
		// memory: the kernel lets a populated group enable threaded
		// controllers (cpu, pids) for its children, not domain ones.
		if err := writeFile(filepath.Join(scope, "cgroup.subtree_control"), "+memory"); !errors.Is(err, syscall.EBUSY) {
			t.Errorf("enable memory in the scope that holds the runner: %v, want EBUSY (no internal processes)", err)
		}
		move = h.prepare
	}
	if err := move(); err != nil {
		t.Fatalf("move the runner into its leaf: %v", err)
	}
	if self, _ := readSelfCgroup("/proc/self/cgroup"); self != groupPath(m, runnerLeaf) {
		t.Errorf("the runner is in %s after moving, want %s", self, groupPath(m, runnerLeaf))
	}

	t.Run("Driver", func(t *testing.T) { exerciseV2(t, m, h) })

	// What the delegation keeps from the user. Each write must fail for
	// want of permission.
	self := strconv.Itoa(os.Getpid())
	denied := []struct{ what, path, value string }{
		{"move itself out of its subtree, to the root-owned parent", filepath.Join(top, "cgroup.procs"), self},
		{"move itself out of its subtree, to a root-owned sibling", filepath.Join(outside, "cgroup.procs"), self},
		{"move itself to the hierarchy's root", filepath.Join(m.point, "cgroup.procs"), self},
		// The same uid is not enough: the common ancestor's cgroup.procs
		// must be writable too.
		{"move a process of its uid from outside into its subtree", filepath.Join(runnerLeaf, "cgroup.procs"), strconv.Itoa(outsider)},
		{"freeze the delegation root", filepath.Join(scope, "cgroup.freeze"), "1"},
		{"kill the delegation root", filepath.Join(scope, "cgroup.kill"), "1"},
		{"raise the delegation root's cgroup.max.descendants", filepath.Join(scope, "cgroup.max.descendants"), "max"},
		{"raise the delegation root's cgroup.max.depth", filepath.Join(scope, "cgroup.max.depth"), "max"},
		{"change the delegation root's type", filepath.Join(scope, "cgroup.type"), "threaded"},
	}
	for _, file := range controllerFiles {
		if _, err := os.Stat(filepath.Join(scope, file)); err == nil {
			denied = append(denied, struct{ what, path, value string }{"set the delegation root's " + file, filepath.Join(scope, file), "max"})
		}
	}
	for _, d := range denied {
		if err := writeFile(d.path, d.value); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s (write %q to %s): %v, want permission denied", d.what, d.value, d.path, err)
		}
	}
	if err := h.fs.rmdir(scope); !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
		t.Errorf("remove the delegation root: %v, want permission denied", err)
	}
	if self, _ := readSelfCgroup("/proc/self/cgroup"); self != groupPath(m, runnerLeaf) {
		t.Errorf("the runner is in %s after the refused moves, want %s", self, groupPath(m, runnerLeaf))
	}
}
