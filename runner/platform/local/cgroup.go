package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The cgroup work of the local platform sits behind a small driver
// interface with one driver per cgroup version: cgroupV1 (cgroup_v1.go)
// for hosts that mount a hierarchy per controller, cgroupV2 (cgroup_v2.go)
// for the unified hierarchy that current distributions mount alone.
// findCgroups picks one by what the host mounts.

// requiredControllers are the controllers faaslab needs in either version:
// memory and pids to bound a container, cpu to give it Lambda's CPU share.
var requiredControllers = []string{"memory", "cpu", "pids"}

// cgroupDriver manages faaslab's groups in one cgroup version. All groups
// live under one parent group of faaslab's (Options.CgroupParent).
type cgroupDriver interface {
	// describe names the version and where its groups live, for logs and
	// errors.
	describe() string
	// prepare creates the parent group and whatever else the driver needs
	// before its first group, which proves that this process may manage
	// cgroups there. It may be called by several runners at once.
	prepare() error
	// create makes the group name under the parent with the limits lim.
	// On error nothing is left behind.
	create(name string, lim limits) (group, error)
	// open returns the group name under the parent as it exists, for
	// reaping what a dead runner left.
	open(name string) group
	// children lists the names of the groups under the parent.
	children() ([]string, error)
	// dirs returns the directories of the group (or glob pattern) name
	// under the parent, one per hierarchy.
	dirs(name string) []string
}

// group is one container's cgroup, as a driver made it. Its methods are
// not safe for concurrent use.
type group interface {
	// start starts cmd inside the group, so that its first instruction
	// already runs under the limits, and inside the network namespace
	// netns unless it is nil.
	start(cmd *exec.Cmd, netns *os.File) error
	// setCPUQuota sets the group's CPU time per cpuPeriodUS.
	setCPUQuota(us int64) error
	// setFrozen freezes or thaws the group; freezing completes
	// asynchronously. It does nothing where the host cannot freeze.
	setFrozen(frozen bool) error
	// isFrozen reports whether the group has finished freezing; false
	// where the host cannot freeze.
	isFrozen() bool
	// canFreeze reports whether the host can freeze the group.
	canFreeze() bool
	// killAll kills every process in the group in one step, without
	// listing them (cgroup v2's cgroup.kill). It returns
	// errNoGroupKill where the host cannot.
	killAll() error
	// procs lists the processes in the group.
	procs() ([]int, error)
	// oomKills returns how many processes the kernel killed for exceeding
	// the group's memory limit.
	oomKills() int
	// peakMemory returns the group's peak memory use in bytes since it was
	// created; 0 when unknown.
	peakMemory() int64
	// cpuUsage returns the CPU time the group's processes have used since
	// the group was created.
	cpuUsage() (cpuUsage, error)
	// remove deletes the group, which must be empty, retrying briefly
	// while the kernel finishes tearing processes down.
	remove() error
}

// errNoGroupKill says that a group cannot kill all its processes at once.
var errNoGroupKill = errors.New("cgroup has no cgroup.kill")

// cpuUsage is CPU time a group has used, and how often its quota held it
// back.
type cpuUsage struct {
	// usage is the exact CPU time (zero where the host does not say);
	// user and system split it as the kernel samples them, at scheduler
	// ticks on cgroup v1, so that over a short span they can be off by a
	// tick or more each (see times).
	usage, user, system time.Duration
	// throttled is the time the group's runnable processes waited for the
	// next period once the quota was spent, in throttledPeriods periods.
	throttled        time.Duration
	throttledPeriods int64
}

// sub returns u minus earlier, the usage in between.
func (u cpuUsage) sub(earlier cpuUsage) cpuUsage {
	return cpuUsage{
		usage:            u.usage - earlier.usage,
		user:             u.user - earlier.user,
		system:           u.system - earlier.system,
		throttled:        u.throttled - earlier.throttled,
		throttledPeriods: u.throttledPeriods - earlier.throttledPeriods,
	}
}

// times returns the user and system CPU time of a span: the exact usage,
// divided in the proportion of the sampled user and system times (all
// user when the span had no sample), as the kernel does for cgroup v2's
// cpu.stat. Without an exact usage it returns the samples.
func (u cpuUsage) times() (user, system time.Duration) {
	switch {
	case u.usage <= 0:
		return u.user, u.system
	case u.user+u.system <= 0:
		return u.usage, 0
	}
	user = time.Duration(float64(u.usage) * float64(u.user) / float64(u.user+u.system))
	return user, u.usage - user
}

// cgroupHost is the host's cgroups as one driver manages them.
type cgroupHost struct {
	driver cgroupDriver
	// note says which version faaslab chose on a hybrid host, and why;
	// empty otherwise.
	note string
}

// findCgroups reads the host's /proc/self/mountinfo and /proc/self/cgroup
// and picks a driver. It returns errUnavailable when neither version
// offers every required controller where faaslab may use it.
func findCgroups(parent string) (*cgroupHost, error) {
	return detectCgroups(cgroupEnv{
		mountinfo: "/proc/self/mountinfo", selfCgroup: "/proc/self/cgroup",
		euid: os.Geteuid(), parent: parent, fs: realCgroupFS{},
	})
}

// cgroupEnv is what detectCgroups looks at; tests give it fakes.
type cgroupEnv struct {
	mountinfo, selfCgroup string // paths of the two /proc files
	euid                  int
	parent                string
	fs                    cgroupFS // how the v2 driver touches cgroupfs
}

// detectCgroups chooses the cgroup version. A host that mounts the v2
// hierarchy (alone, or beside v1 hierarchies on a hybrid host) gets the v2
// driver when v2 offers memory, cpu and pids where faaslab's groups would
// go; otherwise a host with those three v1 controllers mounted gets the v1
// driver. On a hybrid host the note says which and why.
func detectCgroups(env cgroupEnv) (*cgroupHost, error) {
	mounts, err := readMountinfo(env.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("find cgroups: %w", err)
	}
	var v1Missing []string
	for _, c := range requiredControllers {
		if _, ok := mounts.v1[c]; !ok {
			v1Missing = append(v1Missing, c)
		}
	}
	haveV1 := len(v1Missing) < len(requiredControllers) // some v1 controller mounted
	var v2Err error
	if mounts.v2 != nil {
		self, err := readSelfCgroup(env.selfCgroup)
		if err != nil {
			return nil, fmt.Errorf("find cgroups: %w", err)
		}
		d, err := newCgroupV2(*mounts.v2, self, env.euid, env.parent, env.fs)
		if err == nil {
			h := &cgroupHost{driver: d}
			if len(mounts.v1) > 0 {
				h.note = fmt.Sprintf("hybrid cgroup host: using cgroup v2 (%s), which offers memory, cpu and pids", d.describe())
			}
			return h, nil
		}
		v2Err = err
	}
	if len(v1Missing) == 0 {
		h := &cgroupHost{driver: &cgroupV1{mounts: mounts.v1, parent: env.parent, euid: env.euid}}
		if mounts.v2 != nil {
			h.note = fmt.Sprintf("hybrid cgroup host: using cgroup v1 hierarchies, since cgroup v2 at %s cannot be used: %v", mounts.v2.point, v2Err)
		}
		return h, nil
	}
	if v2Err != nil {
		if haveV1 {
			return nil, fmt.Errorf("%w: cgroup v1 controllers %s are not mounted, and cgroup v2: %w",
				errUnavailable, strings.Join(v1Missing, ", "), v2Err)
		}
		return nil, v2Err
	}
	return nil, fmt.Errorf("%w: no cgroup v2 hierarchy is mounted and cgroup v1 controllers %s are not mounted",
		errUnavailable, strings.Join(v1Missing, ", "))
}

// cgroupMount is where a cgroup hierarchy is mounted.
type cgroupMount struct {
	point string // where the hierarchy is mounted
	root  string // the hierarchy's path that is mounted there
}

// cgroupMounts are the host's cgroup mounts: v1 ones by controller, and
// the v2 one.
type cgroupMounts struct {
	v1 map[string]cgroupMount
	v2 *cgroupMount
}

// readMountinfo reads a /proc/<pid>/mountinfo file for cgroup mounts.
func readMountinfo(path string) (cgroupMounts, error) {
	ms := cgroupMounts{v1: map[string]cgroupMount{}}
	f, err := os.Open(path)
	if err != nil {
		return ms, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1<<20)
	for s.Scan() {
		// id parent major:minor root point options [optional...] - fstype source superoptions
		before, after, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 1 {
			continue
		}
		m := cgroupMount{point: unescapeMountPath(fields[4]), root: unescapeMountPath(fields[3])}
		switch {
		case tail[0] == "cgroup2" && ms.v2 == nil:
			ms.v2 = &m
		case tail[0] == "cgroup" && len(tail) >= 3:
			for _, opt := range strings.Split(tail[2], ",") {
				if _, seen := ms.v1[opt]; !seen {
					ms.v1[opt] = m
				}
			}
		}
	}
	if err := s.Err(); err != nil {
		return ms, fmt.Errorf("read %s: %w", path, err)
	}
	return ms, nil
}

// readSelfCgroup returns this process's group in the v2 hierarchy from a
// /proc/<pid>/cgroup file (its "0::" line), or "/" when it has none.
func readSelfCgroup(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if g, ok := strings.CutPrefix(line, "0::"); ok {
			return strings.TrimSuffix(g, " (deleted)"), nil
		}
	}
	return "/", nil
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

// prepare creates faaslab's parent group (see cgroupDriver.prepare).
func (h *cgroupHost) prepare() error { return h.driver.prepare() }

// dirs returns the directories of the group or glob pattern name under the
// parent, one per hierarchy.
func (h *cgroupHost) dirs(name string) []string { return h.driver.dirs(name) }

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

// cgroup is one container's group. Its methods are not safe for
// concurrent use.
type cgroup struct {
	group
	// mark is the CPU usage at the start of the current invocation.
	mark cpuUsage
	// peak is the most memory the container was seen to use, in bytes
	// (see reportUsage).
	peak int64
}

// create makes the group name under the parent and sets lim. On error
// nothing is left behind.
func (h *cgroupHost) create(name string, lim limits) (*cgroup, error) {
	g, err := h.driver.create(name, lim)
	if err != nil {
		return nil, err
	}
	return &cgroup{group: g}, nil
}

// start starts cmd inside the group and, unless it is nil, the network
// namespace netns (see group.start). h is the host the group belongs to.
func (cg *cgroup) start(h *cgroupHost, cmd *exec.Cmd, netns *os.File) error {
	return cg.group.start(cmd, netns)
}

// maxMemoryBytes returns the group's peak memory use since it was created.
func (cg *cgroup) maxMemoryBytes() int64 { return cg.peakMemory() }

// markCPU notes the group's CPU usage now, for cpuSinceMark. Call it while
// the group's processes are frozen or waiting, just before an invocation.
func (cg *cgroup) markCPU() {
	if u, err := cg.cpuUsage(); err == nil {
		cg.mark = u
	}
}

// cpuSinceMark returns the CPU the group used since markCPU.
func (cg *cgroup) cpuSinceMark() (cpuUsage, error) {
	u, err := cg.cpuUsage()
	if err != nil {
		return cpuUsage{}, err
	}
	return u.sub(cg.mark), nil
}

// waitFrozen reports whether the group finished freezing within d.
func (cg *cgroup) waitFrozen(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		if cg.isFrozen() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// killPerProcess is how long kill waits for each process it found in the
// group, beyond its base timeout: a fork bomb's thousand processes on a
// loaded host take that much longer to die and leave.
const killPerProcess = 30 * time.Millisecond

// kill kills every process in the group and waits until it is empty. It
// gives up, with an error, only after timeout plus killPerProcess for each of
// the most processes it saw at once: the bound scales with the group.
//
// Each round freezes the group first: frozen processes can neither fork
// nor exit, so the list of pids is complete and no pid can be recycled by
// an unrelated process before it is signalled. Then it kills them all,
// with cgroup.kill where the host has it (v2), or SIGKILL to each listed
// process (v1), and thaws the group, so that the kills take effect. Where
// the host cannot freeze, rounds repeat until the group stays empty.
//
// For up to a second kill spares the process spare (the sandbox's outer
// bwrap, faaslab's child), which reaps the sandbox and exits by itself, so
// that no zombie is left for the host's init to reap.
func (cg *cgroup) kill(timeout time.Duration, spare int) error {
	start := time.Now()
	spareUntil := start.Add(time.Second)
	self := os.Getpid()
	most := 0
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 20*time.Millisecond) {
		if cg.canFreeze() && cg.setFrozen(true) == nil {
			cg.waitFrozen(pause + timeout/10)
		}
		pids, err := cg.procs()
		if err != nil {
			cg.setFrozen(false)
			return err
		}
		// The runner itself is listed when the fork thread failed to move
		// out; it is not the container's.
		pids = slices.DeleteFunc(pids, func(pid int) bool { return pid == self })
		most = max(most, len(pids))
		sparing := spare != 0 && time.Now().Before(spareUntil) && slices.Contains(pids, spare)
		if len(pids) > 0 && (sparing || cg.killAll() != nil) {
			for _, pid := range pids {
				if !sparing || pid != spare {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		// Thaw even if freezing failed half-way.
		if err := cg.setFrozen(false); err != nil {
			return fmt.Errorf("thaw cgroup: %w", err)
		}
		if len(pids) == 0 {
			return nil
		}
		if bound := timeout + time.Duration(most)*killPerProcess; time.Since(start) > bound {
			return fmt.Errorf("%d processes (of at most %d) still alive %v after SIGKILL: %v",
				len(pids), most, bound.Round(time.Millisecond), pids[:min(len(pids), 20)])
		}
		time.Sleep(pause)
	}
}

// The fork thread. Containers get Pdeathsig (SIGKILL when faaslab dies),
// and the kernel sends it when the thread that forked a process ends, not
// the process. The Go runtime ends a thread when a goroutine locked to it
// exits; a locked goroutine that never exits keeps its thread alive, and
// no other goroutine ever runs on it (and might end it). So one OS thread,
// the fork thread, forks every container of the process and lives as long
// as the process: no container dies before faaslab does. The Go runtime
// never clones its own threads from a locked thread.

// forkThreadState is what the fork thread keeps between requests.
type forkThreadState struct {
	tid string
	// home maps each v1 controller to the thread's own group.
	home map[string]string
	// hostNet is the thread's own network namespace, to return to after
	// forking into another; nil until the first such fork.
	hostNet *os.File
}

// forkRequest asks the fork thread to run fork on itself, inside the
// network namespace netns unless it is nil.
type forkRequest struct {
	fork  func(*forkThreadState) error
	netns *os.File
	done  chan<- error
}

var (
	forkOnce     sync.Once
	forkRequests = make(chan forkRequest)
)

// onForkThread runs fork on the fork thread, inside the network
// namespace netns unless it is nil, and returns its error.
func onForkThread(netns *os.File, fork func(*forkThreadState) error) error {
	forkOnce.Do(func() { go forkThread() })
	done := make(chan error, 1)
	forkRequests <- forkRequest{fork: fork, netns: netns, done: done}
	return <-done
}

// forkThread serves forkRequests for the life of the process, locked to
// its OS thread and never unlocked.
func forkThread() {
	runtime.LockOSThread()
	st := &forkThreadState{tid: strconv.Itoa(syscall.Gettid())}
	for req := range forkRequests {
		if req.netns == nil {
			req.done <- req.fork(st)
		} else {
			req.done <- st.forkInNetns(req)
		}
	}
}

// cgroupFS is how the v2 driver touches the cgroup file system; tests give
// it a fake.
type cgroupFS interface {
	// mkdir creates a group's directory.
	mkdir(dir string) error
	// rmdir removes a group's directory.
	rmdir(dir string) error
	// write writes value to an interface file, which must exist.
	write(path, value string) error
	// read reads an interface file.
	read(path string) ([]byte, error)
	// writable reports, as an error, whether this process may write path.
	writable(path string) error
	// delegated reports whether systemd delegated the group dir (it sets
	// the extended attribute trusted.delegate, or user.delegate for a user
	// manager, on the groups of units with Delegate=yes).
	delegated(dir string) bool
}

// realCgroupFS is the kernel's cgroup file system.
type realCgroupFS struct{}

func (realCgroupFS) mkdir(dir string) error           { return os.Mkdir(dir, 0o755) }
func (realCgroupFS) rmdir(dir string) error           { return syscall.Rmdir(dir) }
func (realCgroupFS) write(path, value string) error   { return writeFile(path, value) }
func (realCgroupFS) read(path string) ([]byte, error) { return os.ReadFile(path) }
func (realCgroupFS) writable(path string) error {
	// AT_EACCESS: as the effective user, who would write.
	if err := syscall.Faccessat(atFDCWD, path, wOK, atEAccess); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}

func (realCgroupFS) delegated(dir string) bool {
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		if n, err := syscall.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return true
		}
	}
	return false
}

const (
	atFDCWD   = -0x64
	atEAccess = 0x200
	wOK       = 0x2
)

// writeFile writes value to the existing file path in one write, as
// cgroupfs wants.
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

// readInt reads a file that holds one integer.
func readInt(read func(string) ([]byte, error), path string) (int64, error) {
	data, err := read(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// readKeyed parses a flat-keyed file ("key value" lines, as cpu.stat and
// memory.events) into a map.
func readKeyed(read func(string) ([]byte, error), path string) (map[string]int64, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	return parseKeyedData(data), nil
}

func parseKeyed(r io.Reader) map[string]int64 {
	data, _ := io.ReadAll(r)
	return parseKeyedData(data)
}

// parseKeyedData is parseKeyed on data, without a reader or scanner: it
// runs on every invocation's path.
func parseKeyedData(data []byte) map[string]int64 {
	m := map[string]int64{}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil {
			m[string(k)] = n
		}
	}
	return m
}

// parsePids parses a cgroup.procs file.
func parsePids(data []byte) []int {
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// fileCache keeps a group's counter files open, so that reading one
// costs a pread at offset 0, which makes the kernel produce its content
// afresh, instead of an open, read and close: the counters are read
// before and after every invocation.
type fileCache struct {
	files map[string]*os.File
	buf   []byte
}

// read returns the content of the file at path.
func (c *fileCache) read(path string) ([]byte, error) {
	f, ok := c.files[path]
	if !ok {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		if c.files == nil {
			c.files = map[string]*os.File{}
		}
		c.files[path] = f
	}
	if c.buf == nil {
		c.buf = make([]byte, 4096)
	}
	n, err := f.ReadAt(c.buf, 0)
	switch {
	case n == len(c.buf):
		return os.ReadFile(path) // longer than the counters faaslab reads
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	}
	return c.buf[:n], nil
}

// close closes the files.
func (c *fileCache) close() {
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
}

// removeDir removes a group's directory with rmdir, retrying while the
// kernel finishes tearing processes down (EBUSY); a directory already gone
// is fine.
func removeDir(rmdir func(string) error, dir string) error {
	var err error
	for i := 0; i < 200; i++ {
		if err = rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
