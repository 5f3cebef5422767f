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
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeCgroupFS is a fake of the kernel's cgroup v2 file system, for
// testing the v2 driver on hosts without cgroup v2 controllers. It lays a
// temp dir out as the kernel's cgroup-v2 documentation describes the
// unified hierarchy (cgroup.controllers, cgroup.subtree_control,
// cgroup.procs, cgroup.events, cgroup.freeze, cgroup.kill, and each
// enabled controller's interface files in every new group) and acts as
// the kernel does on the writes the driver makes: controllers are enabled
// only when the parent offers them and only in groups without processes
// (the root excepted); freezing completes a little later, and says so in
// cgroup.events; cgroup.kill kills the group's processes (real ones that
// the test started); rmdir fails while a group holds processes or
// children. Reads of cgroup.procs leave out processes that have exited.
type fakeCgroupFS struct {
	root string

	mu     sync.Mutex
	writes []string // "path relative to root=value", in order
	// unwritable paths fail writable and write with EACCES.
	unwritable map[string]bool
	// delegatedDirs are groups that systemd delegated.
	delegatedDirs map[string]bool
	// mkdirErr, when set, fails every mkdir.
	mkdirErr error
	// noKill and noPeak leave cgroup.kill and memory.peak out of new
	// groups, as kernels before 5.14 and 5.19 do.
	noKill, noPeak bool
	freezeDelay    time.Duration
	// closed ends pending freezes when the test ends.
	closed chan struct{}
}

func newFakeCgroupFS(t *testing.T, controllers string) *fakeCgroupFS {
	t.Helper()
	f := &fakeCgroupFS{root: t.TempDir(), unwritable: map[string]bool{}, delegatedDirs: map[string]bool{}, freezeDelay: 20 * time.Millisecond, closed: make(chan struct{})}
	t.Cleanup(func() { close(f.closed) })
	f.populate(f.root, controllers, true)
	return f
}

// populate writes the interface files of a new group.
func (f *fakeCgroupFS) populate(dir, controllers string, root bool) {
	files := map[string]string{
		"cgroup.controllers":     controllers + "\n",
		"cgroup.subtree_control": "\n",
		"cgroup.procs":           "",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
	}
	on := strings.Fields(controllers)
	if !root {
		files["cgroup.events"] = "populated 0\nfrozen 0\n"
		files["cgroup.freeze"] = "0\n"
		if !f.noKill {
			files["cgroup.kill"] = ""
		}
		if slices.Contains(on, "memory") {
			files["memory.current"] = "0\n"
			files["memory.max"] = "max\n"
			files["memory.swap.max"] = "max\n"
			files["memory.events"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
			if !f.noPeak {
				files["memory.peak"] = "0\n"
			}
		}
		if slices.Contains(on, "cpu") {
			files["cpu.max"] = "max 100000\n"
			files["cpu.weight"] = "100\n"
			files["cpu.stat"] += "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
		}
		if slices.Contains(on, "pids") {
			files["pids.max"] = "max\n"
			files["pids.current"] = "0\n"
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			panic(err)
		}
	}
}

func (f *fakeCgroupFS) rel(path string) string {
	r, _ := filepath.Rel(f.root, path)
	return r
}

func (f *fakeCgroupFS) mkdir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mkdirErr != nil {
		return &os.PathError{Op: "mkdir", Path: dir, Err: f.mkdirErr}
	}
	if f.unwritable[filepath.Dir(dir)] {
		return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.EACCES}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	parent, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	f.populate(dir, strings.TrimSpace(string(parent)), false)
	return nil
}

func (f *fakeCgroupFS) rmdir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: syscall.ENOENT}
	}
	for _, e := range entries {
		if e.IsDir() {
			return &os.PathError{Op: "rmdir", Path: dir, Err: syscall.EBUSY}
		}
	}
	if len(f.liveProcs(dir)) > 0 {
		return &os.PathError{Op: "rmdir", Path: dir, Err: syscall.EBUSY}
	}
	return os.RemoveAll(dir)
}

// liveProcs lists the processes of dir's group that have not exited.
func (f *fakeCgroupFS) liveProcs(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var live []int
	for _, pid := range parsePids(data) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if pid >= 1<<22 { // the tests' made-up pids, never signalled
			live = append(live, pid)
		} else if err == nil && !strings.Contains(string(stat[strings.LastIndexByte(string(stat), ')'):]), ") Z") {
			live = append(live, pid)
		}
	}
	return live
}

func (f *fakeCgroupFS) setProcs(dir string, pids []int) {
	var b strings.Builder
	for _, pid := range pids {
		fmt.Fprintln(&b, pid)
	}
	os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(b.String()), 0o644)
	populated := 0
	if len(pids) > 0 {
		populated = 1
	}
	f.setEvent(dir, "populated", populated)
}

// setEvent sets key in dir's cgroup.events.
func (f *fakeCgroupFS) setEvent(dir, key string, value int) {
	path := filepath.Join(dir, "cgroup.events")
	data, err := os.ReadFile(path)
	if err != nil {
		return // the root has no cgroup.events
	}
	m := parseKeyed(strings.NewReader(string(data)))
	m[key] = int64(value)
	os.WriteFile(path, []byte(fmt.Sprintf("populated %d\nfrozen %d\n", m["populated"], m["frozen"])), 0o644)
}

func (f *fakeCgroupFS) write(path, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(errno syscall.Errno) error {
		return fmt.Errorf("write %q to %s: %w", value, path, &os.PathError{Op: "write", Path: path, Err: errno})
	}
	if f.unwritable[path] || f.unwritable[filepath.Dir(path)] {
		return fail(syscall.EACCES)
	}
	if _, err := os.Stat(path); err != nil {
		return fail(syscall.ENOENT)
	}
	dir := filepath.Dir(path)
	f.writes = append(f.writes, f.rel(path)+"="+value)
	switch filepath.Base(path) {
	case "cgroup.subtree_control":
		offered, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		current, _ := os.ReadFile(path)
		on := strings.Fields(string(current))
		for _, tok := range strings.Fields(value) {
			c := tok[1:]
			switch {
			case !slices.Contains(strings.Fields(string(offered)), c):
				return fail(syscall.ENOENT)
			case tok[0] == '+' && dir != f.root && len(f.liveProcs(dir)) > 0:
				return fail(syscall.EBUSY) // no internal processes
			case tok[0] == '+' && !slices.Contains(on, c):
				on = append(on, c)
			case tok[0] == '-':
				on = slices.DeleteFunc(on, func(s string) bool { return s == c })
			}
		}
		return os.WriteFile(path, []byte(strings.Join(on, " ")+"\n"), 0o644)
	case "cgroup.freeze":
		os.WriteFile(path, []byte(value+"\n"), 0o644)
		if value == "0" {
			f.setEvent(dir, "frozen", 0)
			return nil
		}
		delay := f.freezeDelay
		go func() {
			select {
			case <-time.After(delay):
			case <-f.closed:
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if data, _ := os.ReadFile(path); strings.TrimSpace(string(data)) == "1" {
				f.setEvent(dir, "frozen", 1)
			}
		}()
		return nil
	case "cgroup.kill":
		for _, pid := range f.liveProcs(dir) {
			if pid < 1<<22 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		f.setProcs(dir, nil)
		return nil
	case "cgroup.procs":
		pid, err := strconv.Atoi(value)
		if err != nil {
			return fail(syscall.EINVAL)
		}
		filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != dir {
				if pids := f.liveProcs(p); slices.Contains(pids, pid) {
					f.setProcs(p, slices.DeleteFunc(pids, func(q int) bool { return q == pid }))
				}
			}
			return nil
		})
		f.setProcs(dir, append(f.liveProcs(dir), pid))
		return nil
	}
	return os.WriteFile(path, []byte(value+"\n"), 0o644)
}

func (f *fakeCgroupFS) read(path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filepath.Base(path) == "cgroup.procs" {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, pid := range f.liveProcs(filepath.Dir(path)) {
			fmt.Fprintln(&b, pid)
		}
		return []byte(b.String()), nil
	}
	return os.ReadFile(path)
}

func (f *fakeCgroupFS) writable(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unwritable[path] || f.unwritable[filepath.Dir(path)] && filepath.Dir(path) != filepath.Dir(f.root) {
		return &os.PathError{Op: "access", Path: path, Err: syscall.EACCES}
	}
	return nil
}

func (f *fakeCgroupFS) delegated(dir string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delegatedDirs[dir]
}

// wrote reports whether the driver wrote value to path (relative to the
// root).
func (f *fakeCgroupFS) wrote(path, value string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.writes, path+"="+value)
}

// content returns the file at path (relative to the root), trimmed.
func (f *fakeCgroupFS) content(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.root, path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// set writes a file as the kernel would, e.g. a counter.
func (f *fakeCgroupFS) set(t *testing.T, path, content string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.WriteFile(filepath.Join(f.root, path), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeGroup creates a group below the root as systemd would, enabling
// controllers on the way, and returns its directory.
func (f *fakeCgroupFS) makeGroup(t *testing.T, path string, controllers string) string {
	t.Helper()
	dir := f.root
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if err := f.write(filepath.Join(dir, "cgroup.subtree_control"), "+"+strings.ReplaceAll(controllers, " ", " +")); err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(dir, part)
		if err := f.mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.writes = nil
	f.mu.Unlock()
	return dir
}

// fakeProc writes fake /proc/self/mountinfo and /proc/self/cgroup files
// and returns their paths. v1 lists controllers mounted as v1
// hierarchies; v2root is where the fake mounts cgroup2, if anywhere.
func fakeProc(t *testing.T, v2root string, v1 []string, self string) (mountinfo, selfCgroup string) {
	t.Helper()
	dir := t.TempDir()
	var mi strings.Builder
	fmt.Fprintf(&mi, "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n")
	fmt.Fprintf(&mi, "25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755\n")
	for i, c := range v1 {
		fmt.Fprintf(&mi, "%d 25 0:%d / /sys/fs/cgroup/%s rw,nosuid,nodev,noexec,relatime shared:%d - cgroup cgroup rw,%s\n", 30+i, 30+i, c, 10+i, c)
	}
	if v2root != "" {
		escaped := strings.ReplaceAll(v2root, " ", `\040`)
		fmt.Fprintf(&mi, "28 25 0:26 / %s rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n", escaped)
	}
	mountinfo = filepath.Join(dir, "mountinfo")
	selfCgroup = filepath.Join(dir, "cgroup")
	if err := os.WriteFile(mountinfo, []byte(mi.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(selfCgroup, []byte("0::"+self+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return mountinfo, selfCgroup
}

// fakeV2Host returns a v2 driver, prepared, over a fake with all the
// controllers, for root in the hierarchy's root group.
func fakeV2Host(t *testing.T) (*fakeCgroupFS, *cgroupV2) {
	t.Helper()
	f := newFakeCgroupFS(t, "cpuset cpu io memory hugetlb pids rdma misc")
	mi, self := fakeProc(t, f.root, nil, "/")
	h, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: f})
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	d, ok := h.driver.(*cgroupV2)
	if !ok || h.note != "" {
		t.Fatalf("driver %T, note %q: want cgroup v2 and no note", h.driver, h.note)
	}
	if err := h.prepare(); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	return f, d
}

func TestCgroupV2CreateWithLimits(t *testing.T) {
	f, d := fakeV2Host(t)
	for _, w := range []string{"cgroup.subtree_control=+memory +cpu +pids", "faaslab/cgroup.subtree_control=+memory +cpu +pids"} {
		if !f.wrote(strings.Split(w, "=")[0], strings.Split(w, "=")[1]) {
			t.Errorf("prepare did not write %s; writes %q", w, f.writes)
		}
	}
	if got := f.content(t, "faaslab/cgroup.subtree_control"); got != "memory cpu pids" {
		t.Errorf("faaslab's subtree_control %q", got)
	}
	// A second runner's prepare changes nothing.
	f.writes = nil
	if err := d.prepare(); err != nil || len(f.writes) > 0 {
		t.Errorf("prepare again: %v, writes %q", err, f.writes)
	}

	lim := limits{memoryBytes: 256 << 20, cpuQuotaUS: 14472, initCPUQuotaUS: cpuPeriodUS, pidsMax: 1024}
	g, err := d.create("c1", lim)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory.max": "268435456", "memory.swap.max": "0", "cpu.max": "100000 100000", "pids.max": "1024",
	} {
		if got := f.content(t, "faaslab/c1/"+file); got != want || !f.wrote("faaslab/c1/"+file, want) {
			t.Errorf("%s = %q, want %q written", file, got, want)
		}
	}
	if err := g.setCPUQuota(lim.cpuQuotaUS); err != nil {
		t.Fatal(err)
	}
	if got := f.content(t, "faaslab/c1/cpu.max"); got != "14472 100000" {
		t.Errorf("cpu.max after init %q", got)
	}
	if err := g.setCPUQuota(0); err != nil || f.content(t, "faaslab/c1/cpu.max") != "max 100000" {
		t.Errorf("unlimited cpu.max: %v %q", err, f.content(t, "faaslab/c1/cpu.max"))
	}
	if got := d.dirs("c1"); len(got) != 1 || got[0] != filepath.Join(f.root, "faaslab/c1") {
		t.Errorf("dirs %q", got)
	}

	// Without swap accounting there is no memory.swap.max: fine.
	os.Remove(filepath.Join(f.root, "faaslab/c1/memory.swap.max"))
	f.noPeak = true
	if _, err := d.create("c2", lim); err != nil {
		t.Errorf("create without swap accounting: %v", err)
	}

	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "faaslab/c1")); !os.IsNotExist(err) {
		t.Errorf("group still there after remove: %v", err)
	}
}

func TestCgroupV2CreateFails(t *testing.T) {
	f, d := fakeV2Host(t)
	f.mu.Lock()
	f.unwritable[filepath.Join(f.root, "faaslab", "c1", "pids.max")] = true
	f.mu.Unlock()
	_, err := d.create("c1", limits{memoryBytes: 128 << 20, cpuQuotaUS: 7236, initCPUQuotaUS: 7236, pidsMax: 64})
	if err == nil || !strings.Contains(err.Error(), "pids.max") {
		t.Errorf("create with pids.max unwritable: %v, want an error naming it", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "faaslab/c1")); !os.IsNotExist(err) {
		t.Errorf("failed create left its group: %v", err)
	}
}

func TestCgroupV2Freeze(t *testing.T) {
	f, d := fakeV2Host(t)
	g, err := d.create("c1", limits{memoryBytes: 128 << 20, pidsMax: 64})
	if err != nil {
		t.Fatal(err)
	}
	cg := &cgroup{group: g}
	if err := cg.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	if !f.wrote("faaslab/c1/cgroup.freeze", "1") {
		t.Errorf("freeze wrote %q", f.writes)
	}
	if !cg.waitFrozen(10 * time.Second) {
		t.Fatalf("not frozen; cgroup.events: %q", f.content(t, "faaslab/c1/cgroup.events"))
	}
	if err := cg.setFrozen(false); err != nil || cg.isFrozen() || !f.wrote("faaslab/c1/cgroup.freeze", "0") {
		t.Errorf("thaw: %v, frozen %v", err, cg.isFrozen())
	}
	// A group that never finishes freezing is reported as such.
	f.freezeDelay = time.Hour
	cg.setFrozen(true)
	if cg.waitFrozen(50 * time.Millisecond) {
		t.Errorf("waitFrozen true before cgroup.events said frozen 1")
	}
}

// sleepers starts n processes that sleep, for a test to put in a fake
// group, and returns their pids. They are killed and reaped when the test
// ends.
func sleepers(t *testing.T, n int) []int {
	t.Helper()
	var pids []int
	for i := 0; i < n; i++ {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, cmd.Process.Pid)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
	}
	return pids
}

func TestCgroupV2Kill(t *testing.T) {
	for _, noKill := range []bool{false, true} {
		t.Run(fmt.Sprintf("noKill=%v", noKill), func(t *testing.T) {
			f, d := fakeV2Host(t)
			f.noKill = noKill
			g, err := d.create("c1", limits{memoryBytes: 128 << 20, pidsMax: 64})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(f.root, "faaslab/c1")
			for _, pid := range sleepers(t, 3) {
				if err := f.write(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
					t.Fatal(err)
				}
			}
			cg := &cgroup{group: g}
			if err := cg.kill(10*time.Second, 0); err != nil {
				t.Fatalf("kill: %v", err)
			}
			if left, _ := g.procs(); len(left) > 0 {
				t.Errorf("processes left: %v", left)
			}
			if noKill == f.wrote("faaslab/c1/cgroup.kill", "1") {
				t.Errorf("cgroup.kill used %v with noKill %v", !noKill, noKill)
			}
			if !f.wrote("faaslab/c1/cgroup.freeze", "1") || f.content(t, "faaslab/c1/cgroup.freeze") != "0" {
				t.Errorf("kill did not freeze, then thaw: %q", f.writes)
			}
			if err := cg.remove(); err != nil {
				t.Errorf("remove after kill: %v", err)
			}
		})
	}
}

// TestCgroupV2KillGivesUp checks that kill reports processes that do not
// die, after a bound that grows with their number.
func TestCgroupV2KillGivesUp(t *testing.T) {
	f, d := fakeV2Host(t)
	g, err := d.create("c1", limits{memoryBytes: 128 << 20, pidsMax: 64})
	if err != nil {
		t.Fatal(err)
	}
	// Made-up pids, which the fake never signals and never lets die.
	f.setProcs(filepath.Join(f.root, "faaslab/c1"), []int{1<<22 + 1, 1<<22 + 2})
	f.noKill = true
	os.Remove(filepath.Join(f.root, "faaslab/c1/cgroup.kill"))
	start := time.Now()
	err = (&cgroup{group: g}).kill(100*time.Millisecond, 0)
	if err == nil || !strings.Contains(err.Error(), "still alive") {
		t.Fatalf("kill of unkillable processes: %v", err)
	}
	if took := time.Since(start); took < 100*time.Millisecond+2*killPerProcess {
		t.Errorf("kill gave up after %v, before its bound", took)
	}
	if err := g.remove(); err == nil || !errors.Is(err, syscall.EBUSY) {
		t.Errorf("remove of a group with processes: %v, want EBUSY", err)
	}
	f.setProcs(filepath.Join(f.root, "faaslab/c1"), nil)
}

func TestCgroupV2Counters(t *testing.T) {
	f, d := fakeV2Host(t)
	g, err := d.create("c1", limits{memoryBytes: 256 << 20, pidsMax: 64})
	if err != nil {
		t.Fatal(err)
	}
	cg := &cgroup{group: g}

	if n := cg.oomKills(); n != 0 {
		t.Errorf("oomKills %d before any", n)
	}
	f.set(t, "faaslab/c1/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
	if n := cg.oomKills(); n != 1 {
		t.Errorf("oomKills %d, want 1 from memory.events", n)
	}

	f.set(t, "faaslab/c1/memory.peak", "104857600\n")
	if n := cg.maxMemoryBytes(); n != 100<<20 {
		t.Errorf("peak %d, want memory.peak's", n)
	}
	// Kernels before 5.19 have no memory.peak: the most of memory.current
	// seen stands in.
	os.Remove(filepath.Join(f.root, "faaslab/c1/memory.peak"))
	f.set(t, "faaslab/c1/memory.current", "5000\n")
	cg.maxMemoryBytes()
	f.set(t, "faaslab/c1/memory.current", "3000\n")
	if n := cg.maxMemoryBytes(); n != 5000 {
		t.Errorf("peak without memory.peak %d, want the most of memory.current seen", n)
	}

	f.set(t, "faaslab/c1/cpu.stat", "usage_usec 400000\nuser_usec 300000\nsystem_usec 100000\nnr_periods 20\nnr_throttled 5\nthrottled_usec 90000\nnr_bursts 0\nburst_usec 0\n")
	cg.markCPU()
	f.set(t, "faaslab/c1/cpu.stat", "usage_usec 750000\nuser_usec 550000\nsystem_usec 200000\nnr_periods 30\nnr_throttled 9\nthrottled_usec 150000\nnr_bursts 0\nburst_usec 0\n")
	u, err := cg.cpuSinceMark()
	want := cpuUsage{usage: 350 * time.Millisecond, user: 250 * time.Millisecond, system: 100 * time.Millisecond,
		throttled: 60 * time.Millisecond, throttledPeriods: 4}
	if err != nil || u != want {
		t.Errorf("cpu since mark %+v, %v; want %+v", u, err, want)
	}
	os.Remove(filepath.Join(f.root, "faaslab/c1/cpu.stat"))
	if _, err := cg.cpuSinceMark(); err == nil {
		t.Errorf("cpu usage without cpu.stat: no error")
	}
}

func TestCgroupV2ReapStale(t *testing.T) {
	f, d := fakeV2Host(t)
	self, err := owner()
	if err != nil {
		t.Fatal(err)
	}
	dead := "999999999.12345-0a0b0c0d-1" // no such pid
	for _, name := range []string{dead, self + "-0a0b0c0d-1", "frozen-anchor"} {
		if _, err := d.create(name, limits{memoryBytes: 128 << 20, pidsMax: 64}); err != nil {
			t.Fatal(err)
		}
	}
	pids := sleepers(t, 2)
	for _, pid := range pids {
		f.write(filepath.Join(f.root, "faaslab", dead, "cgroup.procs"), strconv.Itoa(pid))
	}
	reaped := reapStaleGroups(d)
	if !slices.Equal(reaped, []string{dead}) {
		t.Errorf("reaped %q, want only the dead runner's group", reaped)
	}
	left, _ := d.children()
	slices.Sort(left)
	if want := []string{self + "-0a0b0c0d-1", "frozen-anchor"}; !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(stat), ") Z") {
				t.Errorf("dead runner's process %d still running", pid)
			}
		}
	}
}

func TestCgroupV2Errors(t *testing.T) {
	t.Run("missing controller", func(t *testing.T) {
		f := newFakeCgroupFS(t, "memory pids")
		mi, self := fakeProc(t, f.root, nil, "/")
		_, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: f})
		if !IsUnavailable(err) || !strings.Contains(err.Error(), "controllers cpu are not available") ||
			!strings.Contains(err.Error(), "cgroup.controllers") {
			t.Errorf("detect without cpu: %v", err)
		}
	})
	t.Run("delegated scope without cpu", func(t *testing.T) {
		f := newFakeCgroupFS(t, "cpu memory pids")
		scope := "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
		f.makeGroup(t, scope, "memory pids")
		mi, self := fakeProc(t, f.root, nil, scope)
		_, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 1000, parent: "faaslab", fs: f})
		if !IsUnavailable(err) || !strings.Contains(err.Error(), "controllers cpu") || !strings.Contains(err.Error(), "user@.service") {
			t.Errorf("detect in a scope without cpu: %v", err)
		}
	})
	t.Run("unwritable own cgroup", func(t *testing.T) {
		f := newFakeCgroupFS(t, "cpu memory pids")
		session := "/user.slice/user-1000.slice/session-3.scope"
		dir := f.makeGroup(t, session, "cpu memory pids")
		f.unwritable[dir] = true
		mi, self := fakeProc(t, f.root, nil, session)
		_, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 1000, parent: "faaslab", fs: f})
		if !IsUnavailable(err) || !strings.Contains(err.Error(), "systemd-run --user --scope -p Delegate=yes") ||
			!strings.Contains(err.Error(), session) {
			t.Errorf("detect in an undelegated session: %v", err)
		}
	})
	t.Run("parent cannot be created", func(t *testing.T) {
		f := newFakeCgroupFS(t, "cpu memory pids")
		mi, self := fakeProc(t, f.root, nil, "/")
		h, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: f})
		if err != nil {
			t.Fatal(err)
		}
		f.mkdirErr = syscall.EROFS
		if err := h.prepare(); !IsUnavailable(err) || !strings.Contains(err.Error(), "may not create groups") {
			t.Errorf("prepare on a read-only cgroupfs: %v", err)
		}
	})
	t.Run("controller refused", func(t *testing.T) {
		f := newFakeCgroupFS(t, "cpu memory pids")
		mi, self := fakeProc(t, f.root, nil, "/")
		h, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: f})
		if err != nil {
			t.Fatal(err)
		}
		f.unwritable[filepath.Join(f.root, "cgroup.subtree_control")] = true
		if err := h.prepare(); !IsUnavailable(err) {
			t.Errorf("prepare with subtree_control unwritable: %v", err)
		}
	})
	t.Run("no cgroups", func(t *testing.T) {
		mi, self := fakeProc(t, "", nil, "/")
		_, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: realCgroupFS{}})
		if !IsUnavailable(err) || !strings.Contains(err.Error(), "no cgroup v2 hierarchy") {
			t.Errorf("detect without cgroups: %v", err)
		}
	})
}

// TestCgroupV2DelegatedScope checks the rootless path: faaslab's groups go
// beneath the runner's own delegated scope, whose processes first move to
// a leaf, as the kernel's "no internal processes" rule requires.
func TestCgroupV2DelegatedScope(t *testing.T) {
	f := newFakeCgroupFS(t, "cpuset cpu io memory pids")
	scope := "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
	dir := f.makeGroup(t, scope, "cpu memory pids")
	f.setProcs(dir, []int{1<<22 + 7, 1<<22 + 8}) // the runner, and the shell's go command
	mi, self := fakeProc(t, f.root, nil, scope)
	h, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 1000, parent: "faaslab", fs: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.prepare(); err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(scope, "/")
	if got := f.content(t, rel+"/faaslab-runner/cgroup.procs"); got != fmt.Sprintf("%d\n%d", 1<<22+7, 1<<22+8) {
		t.Errorf("runner leaf holds %q", got)
	}
	if got := f.content(t, rel+"/cgroup.procs"); got != "" {
		t.Errorf("scope still holds %q", got)
	}
	if got := f.content(t, rel+"/faaslab/cgroup.subtree_control"); got != "memory cpu pids" {
		t.Errorf("faaslab parent's subtree_control %q", got)
	}
	if _, err := h.driver.create("c1", limits{memoryBytes: 128 << 20, pidsMax: 64}); err != nil {
		t.Fatal(err)
	}
	if got := h.dirs("c1"); got[0] != filepath.Join(dir, "faaslab", "c1") {
		t.Errorf("group at %s, want beneath the scope", got[0])
	}
}

// TestCgroupV2RootScope checks where root's groups go: beneath the
// hierarchy's root, unless root runs in a scope that systemd delegated.
func TestCgroupV2RootScope(t *testing.T) {
	for _, delegated := range []bool{false, true} {
		f := newFakeCgroupFS(t, "cpu memory pids")
		scope := "/system.slice/run-u7.scope"
		dir := f.makeGroup(t, scope, "cpu memory pids")
		f.delegatedDirs[dir] = delegated
		mi, self := fakeProc(t, f.root, nil, scope)
		h, err := detectCgroups(cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: f})
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(f.root, "faaslab", "c")
		if delegated {
			want = filepath.Join(dir, "faaslab", "c")
		}
		if got := h.dirs("c")[0]; got != want {
			t.Errorf("delegated %v: groups at %s, want %s", delegated, got, want)
		}
	}
}

func TestDetectCgroups(t *testing.T) {
	all := []string{"cpu", "cpuacct", "memory", "pids", "freezer"}
	for _, tc := range []struct {
		name          string
		v2            string // the v2 root's controllers; "-" for no v2 mount
		v1            []string
		spaceInPath   bool
		wantV2        bool
		wantNote      string
		wantErrorText string
	}{
		{name: "v2 only", v2: "cpu memory pids io", wantV2: true},
		{name: "v2 at a path with a space", v2: "cpu memory pids", spaceInPath: true, wantV2: true},
		{name: "hybrid, controllers on v1", v2: "hugetlb", v1: all, wantNote: "using cgroup v1 hierarchies, since cgroup v2"},
		{name: "hybrid, controllers on v2", v2: "cpu memory pids", v1: []string{"freezer"}, wantV2: true, wantNote: "using cgroup v2"},
		{name: "v1 only", v2: "-", v1: all},
		{name: "v1 without cpu", v2: "-", v1: []string{"memory", "pids"}, wantErrorText: "cgroup v1 controllers cpu are not mounted"},
		{name: "split between both", v2: "cpu", v1: []string{"memory", "pids"}, wantErrorText: "cgroup v1 controllers cpu are not mounted, and cgroup v2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := ""
			var f *fakeCgroupFS
			if tc.v2 != "-" {
				f = newFakeCgroupFS(t, tc.v2)
				if tc.spaceInPath {
					spaced := filepath.Join(t.TempDir(), "cgroup v2")
					os.Rename(f.root, spaced)
					f.root = spaced
				}
				root = f.root
			}
			mi, self := fakeProc(t, root, tc.v1, "/")
			env := cgroupEnv{mountinfo: mi, selfCgroup: self, euid: 0, parent: "faaslab", fs: realCgroupFS{}}
			if f != nil {
				env.fs = f
			}
			h, err := detectCgroups(env)
			if tc.wantErrorText != "" {
				if !IsUnavailable(err) || !strings.Contains(err.Error(), tc.wantErrorText) {
					t.Errorf("error %v, want unavailable: %s", err, tc.wantErrorText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, isV2 := h.driver.(*cgroupV2); isV2 != tc.wantV2 {
				t.Errorf("driver %s, want v2 %v", h.driver.describe(), tc.wantV2)
			}
			if !strings.Contains(h.note, tc.wantNote) || (tc.wantNote == "") != (h.note == "") {
				t.Errorf("note %q, want %q", h.note, tc.wantNote)
			}
			if tc.wantV2 && !strings.HasPrefix(h.dirs("x")[0], root+"/") {
				t.Errorf("groups at %s, want under %s", h.dirs("x")[0], root)
			}
		})
	}
}

// TestCPUTimes checks how a span's exact CPU time is split between user
// and system time by the kernel's samples.
func TestCPUTimes(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		u                cpuUsage
		wantUser, wantSy time.Duration
	}{
		{cpuUsage{usage: 50 * ms, user: 30 * ms, system: 10 * ms}, 37500 * time.Microsecond, 12500 * time.Microsecond},
		{cpuUsage{usage: 3 * ms}, 3 * ms, 0},                             // no tick landed
		{cpuUsage{user: 40 * ms, system: 10 * ms}, 40 * ms, 10 * ms},     // no exact usage
		{cpuUsage{usage: 10 * ms, user: 0, system: 20 * ms}, 0, 10 * ms}, // all system
		{cpuUsage{usage: 10 * ms, user: 20 * ms, system: 0}, 10 * ms, 0}, // all user
	} {
		user, system := tc.u.times()
		if user != tc.wantUser || system != tc.wantSy {
			t.Errorf("%+v: user %v system %v, want %v and %v", tc.u, user, system, tc.wantUser, tc.wantSy)
		}
	}
}
