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
	"time"
)

// cgroupV2 is the cgroup v2 driver: one unified hierarchy, in which
// faaslab's parent group sits beneath a base group, and each container
// gets a leaf group under the parent:
//
//	<base>/<parent>/<container>   memory.max, cpu.max, pids.max, ...
//	<base>/<parent>-runner        the runner's processes, when they must leave <base>
//
// Without root, the base is the runner's own group, which must be
// delegated to its user (a systemd scope with Delegate=yes). As root, it
// is the runner's own group too when systemd delegated it (it marks such
// groups with the extended attribute trusted.delegate), and otherwise the
// hierarchy's root (what the runner sees of it), as the v1 driver's parent
// sits at each hierarchy's root. The kernel's "no internal
// processes" rule forbids enabling controllers for the children of a
// group that holds processes (except the root); so when the base holds
// the runner, prepare moves the base's processes into a leaf of their own,
// <parent>-runner, first.
//
// Containers start in their group directly (clone3's CLONE_INTO_CGROUP,
// kernel 5.7+), forked by the fork thread, which never moves.
type cgroupV2 struct {
	fs       cgroupFS
	mount    string // where the hierarchy is mounted
	base     string // the directory under which parentDir goes
	parent   string // Options.CgroupParent
	selfPath string // the runner's group, as /proc/self/cgroup names it
	euid     int
	// controllers are the controllers the driver requires in the base,
	// enables for the groups beneath it and sets limits through:
	// requiredControllers, always, outside tests. The driver's core
	// (groups, processes, freezing, cgroup.kill, cpu.stat's usage) needs
	// none of them, which lets tests run it with none on a real
	// hierarchy whose controllers are all bound to cgroup v1.
	controllers []string
}

// newCgroupV2 returns a v2 driver for the hierarchy mounted at m, for a
// runner in the group self (from /proc/self/cgroup) with effective uid
// euid. It checks, without writing, that the base offers memory, cpu and
// pids and that this process may write it.
func newCgroupV2(m cgroupMount, self string, euid int, parent string, fsys cgroupFS) (*cgroupV2, error) {
	selfDir := m.point
	if rel, ok := strings.CutPrefix(self, strings.TrimSuffix(m.root, "/")); ok && !strings.Contains(rel, "..") {
		selfDir = filepath.Join(m.point, rel)
	}
	h := &cgroupV2{fs: fsys, mount: m.point, parent: parent, selfPath: self, euid: euid, controllers: requiredControllers}
	candidates := []string{selfDir}
	if euid == 0 && selfDir != m.point && !fsys.delegated(selfDir) {
		candidates = []string{m.point, selfDir}
	}
	var first error
	for _, dir := range candidates {
		err := h.usable(dir)
		if err == nil {
			h.base = dir
			return h, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// usable checks that faaslab's groups can go beneath dir: that it offers
// the driver's controllers and that this process may create groups there.
func (h *cgroupV2) usable(dir string) error {
	if err := h.offers(dir); err != nil {
		return err
	}
	return h.mayCreateIn(dir)
}

// offers checks that dir's cgroup.controllers lists the driver's
// controllers.
func (h *cgroupV2) offers(dir string) error {
	data, err := h.fs.read(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("%w: cgroup v2: %w", errUnavailable, err)
	}
	have := strings.Fields(string(data))
	var missing []string
	for _, c := range h.controllers {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		hint := ""
		if h.euid != 0 {
			hint = "; a delegated systemd scope gets the controllers that user@.service delegates (README, \"cgroup v2 hosts\", says how to add cpu)"
		}
		return fmt.Errorf("%w: cgroup v2 controllers %s are not available in %s (its cgroup.controllers lists %q)%s",
			errUnavailable, strings.Join(missing, ", "), dir, strings.TrimSpace(string(data)), hint)
	}
	return nil
}

// mayCreateIn checks, without writing, that this process may create
// groups in dir and move processes in and out of it: that it may write
// the directory, its cgroup.subtree_control and its cgroup.procs, which
// is what delegating a group to a user grants.
func (h *cgroupV2) mayCreateIn(dir string) error {
	for _, path := range []string{dir, filepath.Join(dir, "cgroup.subtree_control"), filepath.Join(dir, "cgroup.procs")} {
		if err := h.fs.writable(path); err != nil {
			return h.unwritable(dir, err)
		}
	}
	return nil
}

// unwritable explains that faaslab may not create groups beneath dir, and
// how to fix it.
func (h *cgroupV2) unwritable(dir string, err error) error {
	return fmt.Errorf("%w: cgroup v2: faaslab (uid %d) may not create groups in %s (it runs in the cgroup %s): "+
		"run it as root, or in a systemd scope delegated to you, e.g. "+
		"`systemd-run --user --scope -p Delegate=yes faaslab run study.cue` (README, \"cgroup v2 hosts\"): %w",
		errUnavailable, h.euid, dir, h.selfPath, err)
}

func (h *cgroupV2) parentDir() string { return filepath.Join(h.base, h.parent) }

func (h *cgroupV2) describe() string {
	return "cgroup v2, groups under " + h.parentDir()
}

func (h *cgroupV2) dirs(name string) []string { return []string{filepath.Join(h.parentDir(), name)} }

// prepare enables memory, cpu and pids for the base's children (moving
// the base's processes into a leaf first when the kernel's "no internal
// processes" rule requires it), creates the parent group and enables the
// controllers for its children, the containers.
func (h *cgroupV2) prepare() error {
	if err := h.enable(h.base, true); err != nil {
		return err
	}
	if err := h.fs.mkdir(h.parentDir()); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return h.unwritable(h.base, err)
		}
		return fmt.Errorf("create cgroup parent %s: %w", h.parentDir(), err)
	}
	return h.enable(h.parentDir(), false)
}

// enable turns on the required controllers in dir's
// cgroup.subtree_control. When the kernel refuses because dir holds
// processes and mayMove is set, it moves them into the leaf
// <parent>-runner and tries again.
func (h *cgroupV2) enable(dir string, mayMove bool) error {
	path := filepath.Join(dir, "cgroup.subtree_control")
	data, err := h.fs.read(path)
	if err != nil {
		return fmt.Errorf("enable cgroup controllers: %w", err)
	}
	on := strings.Fields(string(data))
	var add []string
	for _, c := range h.controllers {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	value := strings.Join(add, " ")
	err = h.fs.write(path, value)
	if errors.Is(err, syscall.EBUSY) && mayMove {
		if err = h.moveProcesses(dir, filepath.Join(dir, h.parent+"-runner")); err == nil {
			err = h.fs.write(path, value)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission):
		return h.unwritable(dir, err)
	}
	return fmt.Errorf("enable cgroup v2 controllers %s for the children of %s: %w", value, dir, err)
}

// moveProcesses moves every process of the group from into the leaf group
// to, which it creates. The kernel moves a process with all its threads;
// processes that exit meanwhile are skipped.
func (h *cgroupV2) moveProcesses(from, to string) error {
	if err := h.fs.mkdir(to); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create leaf cgroup for the runner: %w", err)
	}
	for round := 0; round < 10; round++ {
		data, err := h.fs.read(filepath.Join(from, "cgroup.procs"))
		if err != nil {
			return err
		}
		pids := parsePids(data)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			err := h.fs.write(filepath.Join(to, "cgroup.procs"), strconv.Itoa(pid))
			if err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("move process %d out of %s (no internal processes): %w", pid, from, err)
			}
		}
	}
	return fmt.Errorf("processes keep appearing in %s", from)
}

func (h *cgroupV2) children() ([]string, error) {
	entries, err := os.ReadDir(h.parentDir())
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

func (h *cgroupV2) open(name string) group {
	return &v2Group{fs: h.fs, dir: filepath.Join(h.parentDir(), name)}
}

func (h *cgroupV2) create(name string, lim limits) (group, error) {
	g := &v2Group{fs: h.fs, dir: filepath.Join(h.parentDir(), name)}
	if err := h.fs.mkdir(g.dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create cgroup %s: %w", g.dir, err)
	}
	// Each file belongs to the controller its name starts with.
	settings := []struct {
		file, value string
		optional    bool
	}{
		{"memory.max", strconv.FormatInt(lim.memoryBytes, 10), false},
		// No swap, so swapping cannot stretch the limit; the file is
		// absent where the kernel does not account swap.
		{"memory.swap.max", "0", true},
		{"cpu.max", cpuMax(lim.initCPUQuotaUS), false},
		{"pids.max", strconv.Itoa(lim.pidsMax), false},
	}
	for _, s := range settings {
		if controller, _, _ := strings.Cut(s.file, "."); !slices.Contains(h.controllers, controller) {
			continue // only in tests of the core (see controllers)
		}
		err := h.fs.write(filepath.Join(g.dir, s.file), s.value)
		if err != nil && !(s.optional && errors.Is(err, fs.ErrNotExist)) {
			return nil, errors.Join(fmt.Errorf("set cgroup limit: %w", err), g.remove())
		}
	}
	return g, nil
}

// cpuMax is cpu.max's value for a quota per cpuPeriodUS.
func cpuMax(quotaUS int64) string {
	if quotaUS <= 0 {
		return "max " + strconv.Itoa(cpuPeriodUS)
	}
	return strconv.FormatInt(quotaUS, 10) + " " + strconv.Itoa(cpuPeriodUS)
}

// v2Group is one container's group in the unified hierarchy.
type v2Group struct {
	fs  cgroupFS
	dir string
	// peakSeen is the most of memory.current seen, on kernels without
	// memory.peak (before 5.19).
	peakSeen int64
	// counters holds the counter files open on the real cgroupfs.
	counters fileCache
}

// readCounter reads a counter file, which stays open on the real cgroupfs.
func (g *v2Group) readCounter(path string) ([]byte, error) {
	if _, real := g.fs.(realCgroupFS); real {
		return g.counters.read(path)
	}
	return g.fs.read(path)
}

func (g *v2Group) file(name string) string { return filepath.Join(g.dir, name) }

// start forks cmd straight into the group with CLONE_INTO_CGROUP, on the
// fork thread, so that Pdeathsig holds for as long as faaslab lives.
func (g *v2Group) start(cmd *exec.Cmd, netns *os.File) error {
	dir, err := os.Open(g.dir)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer dir.Close()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(dir.Fd())
	return onForkThread(netns, func(*forkThreadState) error { return cmd.Start() })
}

func (g *v2Group) setCPUQuota(us int64) error { return g.fs.write(g.file("cpu.max"), cpuMax(us)) }

func (g *v2Group) setFrozen(frozen bool) error {
	v := "0"
	if frozen {
		v = "1"
	}
	return g.fs.write(g.file("cgroup.freeze"), v)
}

// canFreeze is true: every non-root v2 group has cgroup.freeze (kernel
// 5.2+).
func (g *v2Group) canFreeze() bool { return true }

// isFrozen reads cgroup.events, where the kernel says "frozen 1" once
// every process of the group has stopped.
func (g *v2Group) isFrozen() bool {
	m, err := readKeyed(g.fs.read, g.file("cgroup.events"))
	return err == nil && m["frozen"] == 1
}

func (g *v2Group) killAll() error {
	err := g.fs.write(g.file("cgroup.kill"), "1")
	if errors.Is(err, fs.ErrNotExist) {
		return errNoGroupKill // before kernel 5.14
	}
	return err
}

func (g *v2Group) procs() ([]int, error) {
	data, err := g.fs.read(g.file("cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	return parsePids(data), nil
}

// oomKills reads oom_kill from memory.events.
func (g *v2Group) oomKills() int {
	m, err := readKeyed(g.readCounter, g.file("memory.events"))
	if err != nil {
		return 0
	}
	return int(m["oom_kill"])
}

// peakMemory reads memory.peak, or, where the kernel lacks it, the most of
// memory.current seen so far (a lower bound).
func (g *v2Group) peakMemory() int64 {
	if n, err := readInt(g.readCounter, g.file("memory.peak")); err == nil {
		return n
	}
	if n, err := readInt(g.readCounter, g.file("memory.current")); err == nil {
		g.peakSeen = max(g.peakSeen, n)
	}
	return g.peakSeen
}

// cpuUsage reads cpu.stat, whose times are in microseconds.
func (g *v2Group) cpuUsage() (cpuUsage, error) {
	m, err := readKeyed(g.readCounter, g.file("cpu.stat"))
	if err != nil {
		return cpuUsage{}, fmt.Errorf("read cpu usage: %w", err)
	}
	return cpuUsage{
		usage:            time.Duration(m["usage_usec"]) * time.Microsecond,
		user:             time.Duration(m["user_usec"]) * time.Microsecond,
		system:           time.Duration(m["system_usec"]) * time.Microsecond,
		throttled:        time.Duration(m["throttled_usec"]) * time.Microsecond,
		throttledPeriods: m["nr_throttled"],
	}, nil
}

func (g *v2Group) remove() error {
	g.counters.close()
	return removeDir(g.fs.rmdir, g.dir)
}
