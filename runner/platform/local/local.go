// Package local runs generated functions on this machine in sandboxes that
// behave like AWS Lambda execution environments.
//
// A deployed function's execution environment (a container) is a
// /usr/bin/python3 process running faaslab's bootstrap inside bubblewrap:
// its own user, pid, network, IPC, UTS and cgroup namespaces, an
// unprivileged uid, read-only /usr, the code read-only at /var/task, a
// private disk-backed /tmp of the function's ephemeral size and nothing
// of the runner's environment. Each container has its own cgroup (v1 or
// v2) that gives it Lambda's resources:
// the memory size as a hard limit, CPU in proportion to memory (a full
// vCPU at 1,769 MB), 1,024 processes. The bootstrap speaks the Lambda
// Runtime API's operations to faaslab over pipes (see transport.go).
//
// As on Lambda, the first invocation of a container is cold and later
// ones reuse it, with /tmp and the module's globals intact; between
// invocations the container is frozen (unless Options.NoFreeze). A
// timeout, crash or protocol violation discards the container, and the
// next invocation starts a new one.
//
// The generated code is untrusted. What it can do is bounded by the
// sandbox and the cgroups; what it reports about itself is checked (see
// harness.Record.Validate) but can be forged, since the measurement
// wrapper shares its process. Status, round trip, cold starts, logs and
// resource limits are faaslab's own observations. Work a function leaves
// running (threads, child processes) stays in its container: frozen
// between invocations, it competes for the container's CPU share and
// memory during the next ones and writes into their logs, as on Lambda,
// and dies with the container.
//
// Known limits: the sandbox shares the host's kernel and has no seccomp
// filter, so a kernel exploit escapes it; /proc/stat and /proc/cpuinfo
// describe the whole host (as they describe the whole microVM on Lambda);
// /tmp is a disk of the function's ephemeral size (see ephemeral.go),
// whose page cache counts in the container's peak memory while cached;
// Python is the host's
// (Debian's), whatever runtime a Function names.
package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
)

// DefaultWorkDir is the default Options.WorkDir: a directory that only
// root controls, unlike a fixed name in /tmp, which any local user could
// create first.
const DefaultWorkDir = "/var/lib/faaslab/local"

// Options configure a local Platform. The zero value is ready to use.
type Options struct {
	// WorkDir holds deployed code and the harness; default
	// DefaultWorkDir, or without root ~/.local/state/faaslab/local. It and the directories above it must be safe from
	// other users and traversable by the sandbox's uid (see
	// prepareWorkDir); New refuses it otherwise.
	WorkDir string
	// Python is the interpreter that runs functions; default
	// /usr/bin/python3. It must live under /usr, which is all of the
	// host's file system that a sandbox sees besides a few files of /etc.
	Python string
	// Bwrap is the bubblewrap binary; default /usr/bin/bwrap.
	Bwrap string
	// CgroupParent is the group, in every cgroup hierarchy, under which
	// containers get their groups; default "faaslab".
	CgroupParent string
	// UID and GID run the sandbox; default 65534 (nobody).
	UID, GID int
	// InitTimeout bounds a container's start and init phase, as Lambda's
	// 10 s; default 10 s.
	InitTimeout time.Duration
	// MaxLogBytes is how much output an invocation keeps; default 1 MiB.
	MaxLogBytes int
	// PidsMax caps a container's processes and threads; default 1024.
	PidsMax int
	// HostCPUs caps a container's vCPUs; default runtime.NumCPU().
	HostCPUs int
	// StrictInitCPU throttles the init phase (interpreter start and the
	// handler's import) like invocations. By default init gets at least
	// one vCPU: Lambda is reported to give init more CPU than small memory
	// sizes buy, and a throttled interpreter start would dominate cold
	// starts at 128 MB (half a second at 0.07 vCPU).
	StrictInitCPU bool
	// Region appears in AWS_REGION and function ARNs; default us-east-1.
	Region string
	// NoFreeze leaves containers running between invocations. By default
	// they are frozen, as Lambda freezes its environments, so that work a
	// function leaves behind neither runs for free nor loads the host.
	// The freeze follows the invocation once its answer is handed back;
	// the thaw, on the next invocation's path, costs 0.05–0.15 ms
	// (measured by BenchmarkOverhead).
	NoFreeze bool
	// Logger receives the platform's notes and warnings: which cgroup
	// version a hybrid host gets, and when the host is oversubscribed, so
	// that CPU figures show contention (once per episode, not per call);
	// default slog.Default().
	Logger *slog.Logger
}

// withDefaults fills in o's zero fields.
func (o Options) withDefaults() Options {
	if o.WorkDir == "" {
		o.WorkDir = defaultWorkDir()
	}
	if o.Python == "" {
		o.Python = "/usr/bin/python3"
	}
	if o.Bwrap == "" {
		o.Bwrap = "/usr/bin/bwrap"
	}
	if o.CgroupParent == "" {
		o.CgroupParent = "faaslab"
	}
	if o.UID == 0 {
		o.UID = 65534
	}
	if o.GID == 0 {
		o.GID = 65534
	}
	if o.InitTimeout == 0 {
		o.InitTimeout = 10 * time.Second
	}
	if o.MaxLogBytes == 0 {
		o.MaxLogBytes = 1 << 20
	}
	if o.PidsMax == 0 {
		o.PidsMax = 1024
	}
	if o.HostCPUs == 0 {
		o.HostCPUs = runtime.NumCPU()
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// errUnavailable marks a host that lacks what the local platform needs
// (bubblewrap, cgroup controllers), as opposed to one that has them
// but fails.
var errUnavailable = errors.New("local platform unavailable")

// IsUnavailable reports whether err from New means that the host lacks
// bubblewrap or usable cgroups, so that callers (and tests) can tell a missing
// feature from a broken one.
func IsUnavailable(err error) bool { return errors.Is(err, errUnavailable) }

// Platform is the local platform. It is safe for concurrent use.
type Platform struct {
	opts    Options
	cgroups *cgroupHost
	// runtimeDir holds the harness, mounted at /var/runtime.
	runtimeDir string
	// deployDir holds one directory per deployment.
	deployDir string
	// fsArgs are the bubblewrap arguments that build the sandbox's file
	// system from the host's, the same for every container.
	fsArgs []string
	// groupPrefix starts the names of this Platform's cgroups: the
	// runner's owner name (see stale.go) and a random id.
	groupPrefix string
	seq         atomic.Uint64
	// contention warns when the host is oversubscribed (see contention.go).
	contention *contention
	// s3 is what sandboxes with object storage share (see s3names.go).
	s3 s3Names
	// mkfs formats containers' /tmp images (see ephemeral.go).
	mkfs string
	// templates holds an empty /tmp image per size, made once.
	templates tmpTemplates
	// rootless says that faaslab runs without root (see rootless.go).
	rootless bool
	// weighMu serialises weighContainers.
	weighMu sync.Mutex
}

var _ platform.Platform = (*Platform)(nil)

// New checks that the host can run sandboxes (bubblewrap, user
// namespaces, cgroup memory, cpu and pids, v1 or v2; without root, cgroups
// delegated to the user, see rootless.go) by starting one, and returns a
// Platform. IsUnavailable tells whether an error means that bubblewrap or
// cgroups are missing.
func New(opts Options) (*Platform, error) {
	opts = opts.withDefaults()
	if _, err := exec.LookPath(opts.Bwrap); err != nil {
		return nil, fmt.Errorf("%w: bubblewrap is not installed (scripts/install-deps installs it): %w", errUnavailable, err)
	}
	rootless := os.Geteuid() != 0
	var mkfs string
	if !rootless {
		var err error
		if mkfs, err = findMkfs(); err != nil {
			return nil, err
		}
		if err := checkLoopDevices(); err != nil {
			return nil, err
		}
	}
	if !strings.HasPrefix(filepath.Clean(opts.Python), "/usr/") {
		return nil, fmt.Errorf("local platform: Python %s must live under /usr", opts.Python)
	}
	if _, err := os.Stat(opts.Python); err != nil {
		return nil, fmt.Errorf("local platform: Python: %w", err)
	}
	cgroups, err := findCgroups(opts.CgroupParent)
	if err != nil {
		return nil, err
	}
	if err := cgroups.prepare(); err != nil {
		return nil, fmt.Errorf("local platform: %w", err)
	}
	if cgroups.note != "" {
		opts.Logger.Info(cgroups.note)
	}
	self, err := owner()
	if err != nil {
		return nil, fmt.Errorf("local platform: %w", err)
	}
	p := &Platform{opts: opts, cgroups: cgroups, groupPrefix: self + "-" + randomHex(4) + "-", mkfs: mkfs, rootless: rootless}
	if rootless {
		opts.Logger.Info(rootlessNote)
	}
	p.contention = newContention(opts.HostCPUs, opts.Logger)
	if err := p.prepareWorkDir(); err != nil {
		return nil, fmt.Errorf("local platform: %w", err)
	}
	p.reapStale()
	p.fsArgs = p.fileSystemArgs()
	if err := p.probe(); err != nil {
		return nil, fmt.Errorf("local platform: %w", err)
	}
	return p, nil
}

// prepareWorkDir makes the work directory safe to use, writes the harness
// into a directory named by its hash (so that concurrent runners of
// different versions never share one), and makes this Platform's own
// deployment directory, with the sandbox's /etc files.
//
// faaslab runs as root and the harness measures the functions, so no
// other user may control any of these paths: one who could would swap the
// harness (and forge measurements) or plant links through which root
// writes and changes modes. So the work directory and every directory in
// it that faaslab uses must be directories, not links, owned by faaslab's
// user and writable by no one else, and the work directory's ancestors
// must be owned by root or that user and writable by no one else, unless
// sticky (as /tmp is). The sandbox's uid needs to traverse them all, for
// bubblewrap opens what it mounts as that uid.
func (p *Platform) prepareWorkDir() error {
	uid, gid := p.sandboxHostIDs()
	work, err := makeWorkDir(p.opts.WorkDir, uid, gid)
	if err != nil {
		return err
	}
	p.opts.WorkDir = work
	sum := sha256.New()
	sum.Write(harness.Wrapper)
	sum.Write(harness.Bootstrap)
	p.runtimeDir = filepath.Join(work, "runtime-"+hex.EncodeToString(sum.Sum(nil))[:12])
	deployments := filepath.Join(work, "deployments")
	// 0711: the sandbox's uid may traverse the directories but not list
	// them. Python lists the directories it imports from: the harness
	// directory must be readable.
	if err := ownDir(p.runtimeDir, 0o755); err != nil {
		return err
	}
	if err := ownDir(deployments, 0o711); err != nil {
		return err
	}
	// A fresh directory of this Platform's own, named after its runner
	// (see stale.go): nothing in it predates it.
	p.deployDir = filepath.Join(deployments, strings.TrimSuffix(p.groupPrefix, "-"))
	if err := os.Mkdir(p.deployDir, 0o711); err != nil {
		return fmt.Errorf("create deployment dir: %w", err)
	}
	if err := os.Chmod(p.deployDir, 0o711); err != nil {
		return fmt.Errorf("create deployment dir: %w", err)
	}
	if err := harness.WriteDir(p.runtimeDir); err != nil {
		return err
	}
	etc := map[string]string{
		"passwd": fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:%d:%d:nobody:/tmp:/usr/sbin/nologin\n", p.opts.UID, p.opts.GID),
		"group":  fmt.Sprintf("root:x:0:\nnogroup:x:%d:\n", p.opts.GID),
		"hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
	}
	for name, content := range etc {
		if err := createFile(filepath.Join(p.deployDir, "etc-"+name), content); err != nil {
			return fmt.Errorf("write sandbox /etc/%s: %w", name, err)
		}
	}
	return nil
}

// makeWorkDir checks that what exists of dir's ancestors is safe as
// prepareWorkDir says and that uid and gid may traverse it, then creates
// dir and its missing ancestors (mode 0711, whatever the umask) and checks
// dir. It returns dir without symbolic links.
func makeWorkDir(dir string, uid, gid int) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("work dir: %w", err)
	}
	// above is the deepest existing ancestor; missing are the directories
	// to create below it, deepest first.
	above := filepath.Dir(dir)
	var missing []string
	if _, err := os.Lstat(dir); err != nil {
		missing = append(missing, dir)
		for ; above != filepath.Dir(above); above = filepath.Dir(above) {
			if _, err := os.Lstat(above); err == nil {
				break
			}
			missing = append(missing, above)
		}
	}
	// Check the ancestors as they are, links resolved, before creating
	// anything in them.
	real, err := filepath.EvalSymlinks(above)
	if err != nil {
		return "", fmt.Errorf("work dir: %w", err)
	}
	euid := os.Geteuid()
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			return "", fmt.Errorf("work dir: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case st.Uid != 0 && int(st.Uid) != euid:
			return "", fmt.Errorf("work dir %s: its ancestor %s is owned by uid %d, neither root nor uid %d that runs faaslab", dir, d, st.Uid, euid)
		case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0:
			return "", fmt.Errorf("work dir %s: its ancestor %s is writable by its group or others (mode %04o) and not sticky", dir, d, fi.Mode().Perm())
		case !traversable(fi, st, uid, gid):
			return "", fmt.Errorf("work dir %s: its ancestor %s (mode %04o) cannot be traversed by the sandbox's uid %d", dir, d, fi.Mode().Perm(), uid)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	resolve := func(path string) string { return filepath.Join(real, strings.TrimPrefix(path, above)) }
	for i := len(missing) - 1; i >= 0; i-- {
		if err := ownDir(resolve(missing[i]), 0o711); err != nil {
			return "", err
		}
	}
	work := resolve(dir)
	return work, ownDir(work, 0o711)
}

// ownDir creates dir with mode perm unless it exists, checks that it is a
// directory, not a link, owned by the effective uid and writable by no
// one else, and then sets its mode to perm.
func ownDir(dir string, perm os.FileMode) error {
	if err := os.Mkdir(dir, perm); err != nil && !os.IsExist(err) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	euid := os.Geteuid()
	var problem string
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		problem = "is a symbolic link"
	case !fi.IsDir():
		problem = "is not a directory"
	case int(st.Uid) != euid:
		problem = fmt.Sprintf("is owned by uid %d, not by uid %d that runs faaslab", st.Uid, euid)
	case fi.Mode().Perm()&0o022 != 0:
		problem = fmt.Sprintf("is writable by its group or others (mode %04o)", fi.Mode().Perm())
	}
	if problem != "" {
		return fmt.Errorf("unsafe work dir: %s %s; remove it or choose another Options.WorkDir", dir, problem)
	}
	// Checked: a directory that no one else controls, so Chmod follows no
	// one's link.
	if err := os.Chmod(dir, perm); err != nil {
		return fmt.Errorf("set mode of %s: %w", dir, err)
	}
	return nil
}

// traversable reports whether uid and gid may search the directory fi.
func traversable(fi os.FileInfo, st *syscall.Stat_t, uid, gid int) bool {
	perm := fi.Mode().Perm()
	switch {
	case uid == 0:
		return true
	case int(st.Uid) == uid:
		return perm&0o100 != 0
	case int(st.Gid) == gid:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// createFile creates path, which must not exist, with content, readable by
// everyone.
func createFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileSystemArgs returns the bubblewrap arguments that give a sandbox the
// host's /usr (and the top-level links into it), the few files of /etc
// that Python and Debian's packages read, and the harness.
func (p *Platform) fileSystemArgs() []string {
	args := []string{"--ro-bind", "/usr", "/usr"}
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(top)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(top); err == nil {
				args = append(args, "--symlink", target, top)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", top, top)
		}
	}
	for _, name := range []string{"passwd", "group", "hosts"} {
		args = append(args, "--ro-bind", filepath.Join(p.deployDir, "etc-"+name), "/etc/"+name)
	}
	// ld.so.cache speeds up loading; alternatives resolves Debian's
	// libblas for numpy; python3* holds Debian's sitecustomize.
	etc := []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
		"/etc/localtime", "/etc/mime.types", "/etc/ssl", "/etc/matplotlibrc"}
	pythonEtc, _ := filepath.Glob("/etc/python3*")
	for _, path := range append(etc, pythonEtc...) {
		args = append(args, "--ro-bind-try", path, path)
	}
	return append(args, "--ro-bind", p.runtimeDir, runtimeMount)
}

// Paths inside the sandbox, as on Lambda.
const (
	taskMount    = "/var/task"
	runtimeMount = "/var/runtime"
)

// probe runs Python once in a sandbox like a container's, to turn a host
// that cannot build one into an error now. Like a container it runs in a
// cgroup of its own, started by the fork thread, so that nothing of it
// survives: not even a sandbox stuck half-built (bwrap's inner process
// waits for its outer one forever when that dies early), and if the runner
// dies meanwhile, a later New reaps the group.
func (p *Platform) probe() (err error) {
	cg, err := p.cgroups.create(p.groupPrefix+"probe", limits{
		memoryBytes: 512 << 20, cpuQuotaUS: cpuPeriodUS, initCPUQuotaUS: cpuPeriodUS, pidsMax: 64,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The harness directory stands in for the code.
	args := append(p.sandboxArgs(p.runtimeDir, nil, nil, false), p.opts.Python, "-c", "import json, resource")
	cmd := exec.CommandContext(ctx, p.opts.Bwrap, args...)
	cmd.Env = []string{}
	cmd.SysProcAttr = p.sysProcAttr()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// Stop reading output that a stuck process keeps open.
	cmd.WaitDelay = time.Second
	err = cg.start(p.cgroups, cmd, nil)
	if cmd.Process != nil {
		err = errors.Join(err, cmd.Wait())
	}
	if kerr := errors.Join(cg.kill(killTimeout, 0), cg.remove()); kerr != nil {
		return kerr
	}
	if err != nil {
		uid, _ := p.sandboxHostIDs()
		err = fmt.Errorf("sandbox probe (%s as uid %d) failed: %w: %s", p.opts.Bwrap, uid, err, strings.TrimSpace(out.String()))
		if p.rootless {
			err = fmt.Errorf("%w; %s", err, rootlessProbeHint)
		}
		return err
	}
	return nil
}

// Name returns "local".
func (p *Platform) Name() string { return "local" }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
