package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Controllers faaslab needs (memory, cpu, pids) and uses when the host has
// them (cpuacct for accounting, freezer to stop a container atomically,
// both between invocations and before killing it).
var (
	requiredControllers = []string{"memory", "cpu", "pids"}
	optionalControllers = []string{"cpuacct", "freezer"}
)

// cgroupHost knows where the host mounts each cgroup v1 controller.
type cgroupHost struct {
	// mounts maps a controller to its hierarchy's mount.
	mounts map[string]cgroupMount
	// parent is the group, relative to each hierarchy's root, that holds
	// faaslab's per-container groups.
	parent string
}

type cgroupMount struct {
	point string // where the hierarchy is mounted
	root  string // the hierarchy's path that is mounted there
}

// findCgroups reads /proc/self/mountinfo for cgroup v1 hierarchies. It
// returns errUnavailable when a required controller is not mounted.
func findCgroups(parent string) (*cgroupHost, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("find cgroups: %w", err)
	}
	defer f.Close()
	h := &cgroupHost{mounts: map[string]cgroupMount{}, parent: parent}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1<<20)
	for s.Scan() {
		// id parent major:minor root point options [optional...] - fstype source superoptions
		before, after, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 3 || tail[0] != "cgroup" {
			continue
		}
		m := cgroupMount{point: unescapeMountPath(fields[4]), root: unescapeMountPath(fields[3])}
		for _, opt := range strings.Split(tail[2], ",") {
			if _, seen := h.mounts[opt]; !seen {
				h.mounts[opt] = m
			}
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("find cgroups: read mountinfo: %w", err)
	}
	var missing []string
	for _, c := range requiredControllers {
		if _, ok := h.mounts[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: cgroup v1 controllers %s are not mounted (cgroup v2-only hosts are not supported)",
			errUnavailable, strings.Join(missing, ", "))
	}
	return h, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dir is the directory of group (relative to the hierarchy's root) in
// controller's hierarchy.
func (h *cgroupHost) dir(controller, group string) string {
	m := h.mounts[controller]
	rel := strings.TrimPrefix(group, m.root)
	return filepath.Join(m.point, rel)
}

// controllers lists the controllers in use, required first.
func (h *cgroupHost) controllers() []string {
	cs := append([]string(nil), requiredControllers...)
	for _, c := range optionalControllers {
		if _, ok := h.mounts[c]; ok {
			cs = append(cs, c)
		}
	}
	return cs
}

// checkParent creates the parent group in every hierarchy, which proves
// that this process may manage cgroups.
func (h *cgroupHost) checkParent() error {
	for _, c := range h.controllers() {
		if err := os.MkdirAll(h.dir(c, "/"+h.parent), 0o755); err != nil {
			return fmt.Errorf("create cgroup parent for %s (the local platform must run as root): %w", c, err)
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
func (h *cgroupHost) anchorFreezer() error {
	if _, ok := h.mounts["freezer"]; !ok {
		return nil
	}
	dir := h.dir("freezer", "/"+h.parent+"/frozen-anchor")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create freezer anchor: %w", err)
	}
	return writeFile(filepath.Join(dir, "freezer.state"), "FROZEN")
}

// limits are one container's resource limits.
type limits struct {
	memoryBytes int64
	cpuQuotaUS  int64 // per cpuPeriodUS
	// initCPUQuotaUS applies until init is done.
	initCPUQuotaUS int64
	pidsMax        int
}

// cpuPeriodUS is the CFS period: a container with v vCPUs may run v×period
// of CPU time per period.
const cpuPeriodUS = 100000

// cgroup is one container's group in every hierarchy faaslab uses. Its
// methods are not safe for concurrent use.
type cgroup struct {
	// dirs maps each controller to the group's directory; co-mounted
	// controllers share one.
	dirs map[string]string
}

// create makes the group name under the parent in every hierarchy and sets
// lim. On error nothing is left behind.
func (h *cgroupHost) create(name string, lim limits) (*cgroup, error) {
	cg := &cgroup{dirs: map[string]string{}}
	for _, c := range h.controllers() {
		dir := h.dir(c, "/"+h.parent+"/"+name)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			cg.remove()
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		cg.dirs[c] = dir
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
		path := filepath.Join(cg.dirs[s.controller], s.file)
		if s.optional {
			if _, err := os.Stat(path); err != nil {
				continue
			}
		}
		if err := writeFile(path, s.value); err != nil {
			cg.remove()
			return nil, fmt.Errorf("set cgroup limit: %w", err)
		}
	}
	return cg, nil
}

func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// setCPUQuota sets the group's CPU time per cpuPeriodUS.
func (cg *cgroup) setCPUQuota(us int64) error {
	return writeFile(filepath.Join(cg.dirs["cpu"], "cpu.cfs_quota_us"), strconv.FormatInt(us, 10))
}

// hierarchies returns one directory per hierarchy.
func (cg *cgroup) hierarchies() []string {
	seen := map[string]bool{}
	var dirs []string
	for _, c := range append(append([]string(nil), requiredControllers...), optionalControllers...) {
		if d, ok := cg.dirs[c]; ok && !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// start starts cmd inside the group, so that its first instruction already
// runs under the limits.
//
// cgroup v1 has no way to fork straight into a group (CLONE_INTO_CGROUP is
// v2 only), but it lets a single thread change groups through the tasks
// file, and a child starts in the groups of the thread that forks it. So
// one OS thread, the fork thread, forks every container of the process:
// it moves into the group, starts cmd (Go forks on the calling thread) and
// moves back. See forkThread for why it is one thread for good.
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
func (cg *cgroup) start(h *cgroupHost, cmd *exec.Cmd) error {
	forkOnce.Do(func() { go forkThread() })
	done := make(chan error, 1)
	forkRequests <- forkRequest{h: h, cg: cg, cmd: cmd, done: done}
	return <-done
}

// forkRequest asks the fork thread to start cmd inside cg.
type forkRequest struct {
	h    *cgroupHost
	cg   *cgroup
	cmd  *exec.Cmd
	done chan<- error
}

var (
	forkOnce     sync.Once
	forkRequests = make(chan forkRequest)
	// writeTasks writes a thread id into a tasks file; tests replace it to
	// make moves fail.
	writeTasks = writeFile
)

// forkThread serves forkRequests for the life of the process, locked to
// its OS thread and never unlocked. Containers get Pdeathsig (SIGKILL when
// faaslab dies), and the kernel sends it when the thread that forked a
// process ends, not the process. The Go runtime ends a thread when a
// goroutine locked to it exits; a locked goroutine that never exits keeps
// its thread alive, and no other goroutine ever runs on it (and might end
// it). So no container dies before faaslab does, even when the thread
// cannot move back out of a group: it then reports the error, stays
// where it is, and moves on with the next request. The Go runtime never
// clones its own threads from a locked thread, so none is born inside a
// container's group.
func forkThread() {
	runtime.LockOSThread()
	tid := strconv.Itoa(syscall.Gettid())
	var home map[string]string // controller → the thread's own group
	for req := range forkRequests {
		var err error
		if home, err = threadGroups(req.h, home); err == nil {
			err = forkInto(req, tid, home)
		}
		req.done <- err
	}
}

// forkInto moves the calling thread, tid, into req's group, starts req's
// command and moves the thread back to its home groups.
func forkInto(req forkRequest, tid string, home map[string]string) error {
	var err error
	var moved []string // controllers whose hierarchy the thread entered
	for _, c := range req.cg.entryOrder() {
		if _, ok := home[c]; !ok {
			err = fmt.Errorf("thread has no %s cgroup", c)
			break
		}
		if err = writeTasks(filepath.Join(req.cg.dirs[c], "tasks"), tid); err != nil {
			break
		}
		moved = append(moved, c)
	}
	if err == nil {
		err = req.cmd.Start()
	}
	for i := len(moved) - 1; i >= 0; i-- {
		c := moved[i]
		if werr := writeTasks(filepath.Join(req.h.dir(c, home[c]), "tasks"), tid); werr != nil {
			err = errors.Join(err, fmt.Errorf("move fork thread back: %w", werr))
		}
	}
	return err
}

// threadGroups maps each controller to the calling thread's group,
// relative to the hierarchy's root. Where the thread is still in a group
// under h's parent (it failed to move back), the group in last is kept.
func threadGroups(h *cgroupHost, last map[string]string) (map[string]string, error) {
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
func (cg *cgroup) entryOrder() []string {
	var cs []string
	seen := map[string]bool{cg.dirs["cpu"]: true}
	for _, c := range append(append([]string(nil), requiredControllers...), optionalControllers...) {
		if d, ok := cg.dirs[c]; ok && !seen[d] {
			seen[d] = true
			cs = append(cs, c)
		}
	}
	return append(cs, "cpu")
}

// procs lists the processes in the group.
func (cg *cgroup) procs() ([]int, error) {
	data, err := os.ReadFile(filepath.Join(cg.dirs["pids"], "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// setFrozen freezes or thaws the group; freezing completes
// asynchronously. It does nothing without the freezer controller.
func (cg *cgroup) setFrozen(frozen bool) error {
	dir, ok := cg.dirs["freezer"]
	if !ok {
		return nil
	}
	state := "THAWED"
	if frozen {
		state = "FROZEN"
	}
	return writeFile(filepath.Join(dir, "freezer.state"), state)
}

// waitFrozen reports whether the group reached FROZEN within d.
func (cg *cgroup) waitFrozen(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		data, err := os.ReadFile(filepath.Join(cg.dirs["freezer"], "freezer.state"))
		if err != nil {
			return false
		}
		if strings.TrimSpace(string(data)) == "FROZEN" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// kill kills every process in the group and waits until it is empty.
//
// With the freezer, the group is frozen first: frozen processes can
// neither fork nor exit, so the list of pids is complete and no pid can be
// recycled by an unrelated process before it is signalled. SIGKILL takes
// effect when the group is thawed. Without the freezer, kill repeats until
// the group stays empty.
//
// For up to a second kill spares the process spare (the sandbox's outer
// bwrap, faaslab's child), which reaps the sandbox and exits by itself, so
// that no zombie is left for the host's init to reap.
func (cg *cgroup) kill(timeout time.Duration, spare int) error {
	_, haveFreezer := cg.dirs["freezer"]
	deadline := time.Now().Add(timeout)
	spareUntil := time.Now().Add(time.Second)
	self := os.Getpid()
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		if haveFreezer && cg.setFrozen(true) == nil {
			cg.waitFrozen(pause + timeout/10)
		}
		pids, err := cg.procs()
		if err != nil {
			return err
		}
		// The runner itself is listed when the fork thread failed to move
		// out; it is not the container's.
		pids = slices.DeleteFunc(pids, func(pid int) bool { return pid == self })
		for _, pid := range pids {
			if pid != spare || time.Now().After(spareUntil) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if haveFreezer {
			// Thaw even if freezing failed half-way.
			if err := cg.setFrozen(false); err != nil {
				return fmt.Errorf("thaw cgroup: %w", err)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still alive %v after SIGKILL", pids, timeout)
		}
		time.Sleep(pause)
	}
}

// oomKills returns how many processes the kernel killed for exceeding the
// group's memory limit.
func (cg *cgroup) oomKills() int {
	data, err := os.ReadFile(filepath.Join(cg.dirs["memory"], "memory.oom_control"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// maxMemoryBytes returns the group's peak memory use.
func (cg *cgroup) maxMemoryBytes() int64 {
	data, err := os.ReadFile(filepath.Join(cg.dirs["memory"], "memory.max_usage_in_bytes"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// remove deletes the group from every hierarchy. The group must be empty;
// remove retries briefly while the kernel finishes tearing processes down.
func (cg *cgroup) remove() error {
	var errs []error
	for _, dir := range cg.hierarchies() {
		var err error
		for i := 0; i < 100; i++ {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
