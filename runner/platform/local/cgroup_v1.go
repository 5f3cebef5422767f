package local

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// optionalV1Controllers are the v1 controllers faaslab uses when the host
// mounts them: cpuacct for accounting, freezer to stop a container
// atomically, both between invocations and before killing it.
var optionalV1Controllers = []string{"cpuacct", "freezer"}

// cgroupV1 is the cgroup v1 driver: one hierarchy per controller (or per
// set of co-mounted controllers), each with faaslab's parent group at its
// root.
type cgroupV1 struct {
	// mounts maps a controller to its hierarchy's mount.
	mounts map[string]cgroupMount
	// parent is the group, relative to each hierarchy's root, that holds
	// faaslab's per-container groups.
	parent string
	// euid is faaslab's effective uid: without root, the parent must have
	// been delegated (see prepare).
	euid int
}

func (h *cgroupV1) describe() string {
	return fmt.Sprintf("cgroup v1, groups under /%s in each hierarchy", h.parent)
}

// dir is the directory of group (relative to the hierarchy's root) in
// controller's hierarchy.
func (h *cgroupV1) dir(controller, group string) string {
	m := h.mounts[controller]
	rel := strings.TrimPrefix(group, m.root)
	return filepath.Join(m.point, rel)
}

// controllers lists the controllers in use, required first.
func (h *cgroupV1) controllers() []string {
	cs := append([]string(nil), requiredControllers...)
	for _, c := range optionalV1Controllers {
		if _, ok := h.mounts[c]; ok {
			cs = append(cs, c)
		}
	}
	return cs
}

func (h *cgroupV1) dirs(name string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, c := range h.controllers() {
		if d := h.dir(c, "/"+h.parent+"/"+name); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// prepare creates the parent group in every hierarchy, which proves that
// this process may manage cgroups, and the freezer anchor.
//
// Without root, cgroup v1 has no delegation of its own: root must make the
// parent group in every hierarchy, hand it to faaslab's user (chown -R),
// and start faaslab inside it, since the fork thread moves into each
// container's group and back (see start), which needs write access to the
// tasks files of both groups. prepare checks both and says how.
func (h *cgroupV1) prepare() error {
	if h.euid != 0 {
		if err := h.delegated(); err != nil {
			return err
		}
	}
	for _, c := range h.controllers() {
		if err := os.MkdirAll(h.dir(c, "/"+h.parent), 0o755); err != nil {
			return fmt.Errorf("create cgroup parent for %s: %w", c, err)
		}
	}
	return h.anchorFreezer()
}

// delegated checks, for faaslab without root, that the parent exists and
// is writable in every hierarchy and that this process's own groups'
// tasks files are writable.
func (h *cgroupV1) delegated() error {
	fix := fmt.Sprintf("as root, for each of %s: mkdir /sys/fs/cgroup/CONTROLLER/%s; chown -R %d "+
		"/sys/fs/cgroup/CONTROLLER/%s; then start faaslab in it (echo $$ > /sys/fs/cgroup/CONTROLLER/%s/cgroup.procs from the shell "+
		"that runs it), or use a cgroup v2 host (README, \"Running without root\")",
		strings.Join(h.controllers(), ", "), h.parent, h.euid, h.parent, h.parent)
	self, err := threadGroups(h, nil)
	if err != nil {
		return err
	}
	for _, c := range h.controllers() {
		for _, path := range []string{h.dir(c, "/"+h.parent), h.dir(c, filepath.Join(cmp.Or(self[c], "/"), "tasks"))} {
			if err := (realCgroupFS{}).writable(path); err != nil {
				return fmt.Errorf("%w: cgroup v1 without root: faaslab (uid %d) needs a delegated %s group: %w; %s",
					errUnavailable, h.euid, c, err, fix)
			}
		}
	}
	return nil
}

// anchorFreezer keeps an empty group frozen for good. The kernel's cgroup
// v1 freezer switches a global static key when the first group starts
// freezing and when the last one thaws, which costs about 0.2 ms each
// way; with one group always frozen, freezing and thawing containers
// between invocations costs a fraction of that. An empty frozen group
// holds nothing and affects no process. It is shared by every runner and
// never removed.
func (h *cgroupV1) anchorFreezer() error {
	if _, ok := h.mounts["freezer"]; !ok {
		return nil
	}
	dir := h.dir("freezer", "/"+h.parent+"/frozen-anchor")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create freezer anchor: %w", err)
	}
	return writeFile(filepath.Join(dir, "freezer.state"), "FROZEN")
}

func (h *cgroupV1) children() ([]string, error) {
	entries, err := os.ReadDir(h.dir("pids", "/"+h.parent))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// v1Group is one container's group in every hierarchy faaslab uses.
type v1Group struct {
	h *cgroupV1
	// dirs maps each controller to the group's directory; co-mounted
	// controllers share one.
	dirs map[string]string
	// counters holds the counter files open.
	counters fileCache
	// freezer is freezer.state held open once written: the thaw is on
	// every warm invocation's path, and an open and close per write cost
	// as much as the write.
	freezerMu sync.Mutex
	freezer   *os.File
}

func (h *cgroupV1) open(name string) group {
	g := &v1Group{h: h, dirs: map[string]string{}}
	for _, c := range h.controllers() {
		g.dirs[c] = h.dir(c, "/"+h.parent+"/"+name)
	}
	return g
}

func (h *cgroupV1) create(name string, lim limits) (group, error) {
	g := &v1Group{h: h, dirs: map[string]string{}}
	for _, c := range h.controllers() {
		dir := h.dir(c, "/"+h.parent+"/"+name)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			g.remove()
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		g.dirs[c] = dir
	}
	mem := strconv.FormatInt(lim.memoryBytes, 10)
	settings := []struct {
		controller, file, value string
		optional                bool
	}{
		{"memory", "memory.limit_in_bytes", mem, false},
		// memsw bounds memory plus swap, so swapping cannot stretch the limit.
		{"memory", "memory.memsw.limit_in_bytes", mem, true},
		{"memory", "memory.swappiness", "0", true},
		{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriodUS), false},
		{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(lim.initCPUQuotaUS, 10), false},
		{"pids", "pids.max", strconv.Itoa(lim.pidsMax), false},
	}
	for _, s := range settings {
		path := filepath.Join(g.dirs[s.controller], s.file)
		if s.optional {
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		if err := writeFile(path, s.value); err != nil {
			g.remove()
			return nil, fmt.Errorf("set cgroup limit: %w", err)
		}
	}
	return g, nil
}

func (g *v1Group) setCPUQuota(us int64) error {
	return writeFile(filepath.Join(g.dirs["cpu"], "cpu.cfs_quota_us"), strconv.FormatInt(us, 10))
}

// hierarchies returns one directory per hierarchy.
func (g *v1Group) hierarchies() []string {
	seen := map[string]bool{}
	var dirs []string
	for _, c := range append(append([]string(nil), requiredControllers...), optionalV1Controllers...) {
		if d, ok := g.dirs[c]; ok && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// start starts cmd inside the group.
//
// cgroup v1 has no way to fork straight into a group (CLONE_INTO_CGROUP is
// v2 only), but it lets a single thread change groups through the tasks
// file, and a child starts in the groups of the thread that forks it. So
// the fork thread moves into the group, starts cmd (Go forks on the
// calling thread) and moves back.
//
// While the fork thread sits in the group, what it does counts as the
// container's. The runner's pages that it touches first stay charged to
// the group's memory (measured at 64–200 KiB per start; on this kernel
// user pages are charged to the faulting thread's group), so they count
// in the container's peak memory (MaxMemoryUsedMB, rounded up to MB) and
// against its limit; and its CPU time counts against the group's CFS
// quota and in cpuacct. To keep the CPU part to the fork itself, the
// thread enters the cpu hierarchy last and leaves it first: it then uses
// 0.2–0.6 ms of CPU in the group (measured), which the container's init
// loses from its first period's quota; with Options.StrictInitCPU at
// 128 MB, that quota is 7.2 ms. Were it used up, the thread would wait
// up to a period (100 ms) before moving out, delaying other starts.
// Moving only the child instead would need bwrap's pids and a go-ahead
// before any untrusted code runs, and would leave bwrap's own memory
// outside the container: not simpler, and no more faithful.
//
// When the thread cannot move back out of a group, it reports the error,
// stays where it is, and moves on with the next request.
func (g *v1Group) start(cmd *exec.Cmd, netns *os.File) error {
	return onForkThread(netns, func(st *forkThreadState) error {
		home, err := threadGroups(g.h, st.home)
		if err != nil {
			return err
		}
		st.home = home
		return g.forkInto(cmd, st.tid, home)
	})
}

// writeTasks writes a thread id into a tasks file; tests replace it to
// make moves fail.
var writeTasks = writeFile

// forkInto moves the calling thread, tid, into the group, starts cmd and
// moves the thread back to its home groups.
func (g *v1Group) forkInto(cmd *exec.Cmd, tid string, home map[string]string) error {
	var err error
	var moved []string // controllers whose hierarchy the thread entered
	for _, c := range g.entryOrder() {
		if _, ok := home[c]; !ok {
			err = fmt.Errorf("thread has no %s cgroup", c)
			break
		}
		if err = writeTasks(filepath.Join(g.dirs[c], "tasks"), tid); err != nil {
			break
		}
		moved = append(moved, c)
	}
	if err == nil {
		err = cmd.Start()
	}
	for i := len(moved) - 1; i >= 0; i-- {
		c := moved[i]
		if werr := writeTasks(filepath.Join(g.h.dir(c, home[c]), "tasks"), tid); werr != nil {
			err = errors.Join(err, fmt.Errorf("move fork thread back: %w", werr))
		}
	}
	return err
}

// threadGroups maps each controller to the calling thread's group,
// relative to the hierarchy's root. Where the thread is still in a group
// under h's parent (it failed to move back), the group in last is kept.
func threadGroups(h *cgroupV1, last map[string]string) (map[string]string, error) {
	data, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read thread cgroups: %w", err)
	}
	groups := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			groups[c] = parts[2]
			if strings.HasPrefix(parts[2], "/"+h.parent+"/") && last[c] != "" {
				groups[c] = last[c]
			}
		}
	}
	return groups, nil
}

// entryOrder lists one controller per hierarchy of the group, the cpu
// controller's last.
func (g *v1Group) entryOrder() []string {
	var cs []string
	seen := map[string]bool{g.dirs["cpu"]: true}
	for _, c := range append(append([]string(nil), requiredControllers...), optionalV1Controllers...) {
		if d, ok := g.dirs[c]; ok && !seen[d] {
			seen[d] = true
			cs = append(cs, c)
		}
	}
	return append(cs, "cpu")
}

func (g *v1Group) procs() ([]int, error) {
	data, err := os.ReadFile(filepath.Join(g.dirs["pids"], "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	return parsePids(data), nil
}

func (g *v1Group) setFrozen(frozen bool) error {
	dir, ok := g.dirs["freezer"]
	if !ok {
		return nil
	}
	state := "THAWED"
	if frozen {
		state = "FROZEN"
	}
	g.freezerMu.Lock()
	defer g.freezerMu.Unlock()
	if g.freezer == nil {
		f, err := os.OpenFile(filepath.Join(dir, "freezer.state"), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		g.freezer = f
	}
	if _, err := g.freezer.WriteAt([]byte(state), 0); err != nil {
		return fmt.Errorf("write %s to %s: %w", state, g.freezer.Name(), err)
	}
	return nil
}

// leaveFreezer moves the processes pids, which must be in the group, out
// of it in the freezer hierarchy only, into faaslab's parent group there,
// which is never frozen. Everywhere else they stay in the group: their
// memory, CPU time and process count remain the container's.
func (g *v1Group) leaveFreezer(pids []int) error {
	dir, ok := g.dirs["freezer"]
	if !ok {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("list freezer processes: %w", err)
	}
	in := parsePids(data)
	parent := filepath.Join(g.h.dir("freezer", "/"+g.h.parent), "cgroup.procs")
	for _, pid := range pids {
		if !slices.Contains(in, pid) {
			return fmt.Errorf("process %d is not in freezer group %s", pid, dir)
		}
		if err := writeFile(parent, strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) canFreeze() bool {
	_, ok := g.dirs["freezer"]
	return ok
}

func (g *v1Group) isFrozen() bool {
	dir, ok := g.dirs["freezer"]
	if !ok {
		return false
	}
	data, err := g.counters.read(filepath.Join(dir, "freezer.state"))
	return err == nil && strings.TrimSpace(string(data)) == "FROZEN"
}

// killAll is not available in cgroup v1: kill signals each process.
func (g *v1Group) killAll() error { return errNoGroupKill }

func (g *v1Group) oomKills() int {
	m, err := readKeyed(g.counters.read, filepath.Join(g.dirs["memory"], "memory.oom_control"))
	if err != nil {
		return 0
	}
	return int(m["oom_kill"])
}

func (g *v1Group) peakMemory() int64 {
	n, _ := readInt(g.counters.read, filepath.Join(g.dirs["memory"], "memory.max_usage_in_bytes"))
	return n
}

// cpuUsage reads cpuacct.usage (exact, ns), cpuacct.usage_all (user and
// system ns per CPU, but sampled at scheduler ticks on current kernels; one
// file where cpuacct.usage_user and cpuacct.usage_sys are two reads on the
// invocation's path), or cpuacct.stat (clock ticks) on kernels without it,
// and the cpu controller's cpu.stat for throttling.
func (g *v1Group) cpuUsage() (cpuUsage, error) {
	var u cpuUsage
	if dir, ok := g.dirs["cpuacct"]; ok {
		if n, err := readInt(g.counters.read, filepath.Join(dir, "cpuacct.usage")); err == nil {
			u.usage = time.Duration(n)
		}
		if all, err := g.counters.read(filepath.Join(dir, "cpuacct.usage_all")); err == nil {
			u.user, u.system = parseUsageAll(all)
		} else {
			m, err := readKeyed(g.counters.read, filepath.Join(dir, "cpuacct.stat"))
			if err != nil {
				return u, fmt.Errorf("read cpu usage: %w", err)
			}
			u.user, u.system = ticks(m["user"]), ticks(m["system"])
		}
	}
	m, err := readKeyed(g.counters.read, filepath.Join(g.dirs["cpu"], "cpu.stat"))
	if err != nil {
		return u, fmt.Errorf("read cpu usage: %w", err)
	}
	u.throttled, u.throttledPeriods = time.Duration(m["throttled_time"]), m["nr_throttled"]
	return u, nil
}

// parseUsageAll sums cpuacct.usage_all's rows ("cpu user system" and then
// one "N USER SYSTEM" line per CPU, in ns).
func parseUsageAll(data []byte) (user, system time.Duration) {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		u, uerr := strconv.ParseInt(f[1], 10, 64)
		s, serr := strconv.ParseInt(f[2], 10, 64)
		if uerr == nil && serr == nil {
			user, system = user+time.Duration(u), system+time.Duration(s)
		}
	}
	return user, system
}

// ticks converts USER_HZ clock ticks, which is 100 per second on Linux, to
// a duration.
func ticks(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

func (g *v1Group) remove() error {
	g.counters.close()
	g.freezerMu.Lock()
	if g.freezer != nil {
		g.freezer.Close()
		g.freezer = nil
	}
	g.freezerMu.Unlock()
	var errs []error
	for _, dir := range g.hierarchies() {
		if err := removeDir(realCgroupFS{}.rmdir, dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
