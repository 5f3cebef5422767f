package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faaslab/faaslab/runner/harness"
)

// killTimeout bounds how long tearing a container down may take before
// faaslab reports processes that it could not kill. A thousand processes
// killed on a host loaded ten times over its cores take several seconds
// to exit; only a process that cannot die at all waits out the bound.
const killTimeout = time.Minute

// container is one execution environment: a sandboxed runtime and every
// process it forks, in one cgroup. Its deployment's lock serialises its
// use.
type container struct {
	cmd      *exec.Cmd
	cg       *cgroup
	requests *os.File // faaslab's end of the runtime's fd 3
	replies  *os.File // faaslab's end of the runtime's fd 4
	messages chan received
	log      *logSink
	stop     chan struct{} // closed by destroy; ends readMessages
	read     chan struct{} // closed when readMessages returns
	exited   chan struct{} // closed when cmd.Wait returns, with waitErr set
	waitErr  error
	started  time.Time // just before the fork
	// initTook is the time from start to the runtime's first next; zero
	// until then.
	initTook time.Duration
	// tmp is the container's /tmp.
	tmp *tmpStore
	// s3 serves the function's object storage inside its network
	// namespace; nil when the function has none.
	s3 *s3Endpoint
	// frozen says that freeze froze the container and nothing thawed it
	// since; freezing is closed when that freeze is complete, with
	// freezeErr set, and is nil after settle.
	frozen    bool
	freezing  chan struct{}
	freezeErr error
	// stopMarking, closed by settle, ends the freeze's wait to take the
	// CPU mark; marked says that the freeze took the mark of the next
	// invocation (see freeze).
	stopMarking chan struct{}
	marked      bool
	// host samples the host's CPU around each call.
	host hostStat
}

// sandboxArgs returns bubblewrap's arguments, up to the command, for a
// sandbox with taskDir at /var/task, tmp at /tmp (a small tmpfs when tmp
// is nil) and exactly env. With ownNet the sandbox stays in the network
// namespace bubblewrap starts in, which the caller made for it (see
// newSandboxNet); otherwise bubblewrap makes one.
func (p *Platform) sandboxArgs(taskDir string, tmp *tmpStore, env []string, ownNet bool) []string {
	args := []string{
		// New user, pid, network, IPC, UTS and cgroup namespaces; no
		// further user namespaces inside.
		"--unshare-all", "--unshare-user", "--disable-userns",
	}
	if ownNet {
		// After --unshare-all, which it overrides for the network only.
		args = append(args, "--share-net")
	}
	args = append(args,
		"--uid", strconv.Itoa(p.opts.UID), "--gid", strconv.Itoa(p.opts.GID),
		"--hostname", "localhost",
		// Die with faaslab; no controlling terminal to inject input into.
		"--die-with-parent", "--new-session",
		"--clearenv",
	)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--setenv", k, v)
	}
	args = append(args, p.fsArgs...)
	if ownNet {
		// The resolver and certificates of S3's own names (s3names.go).
		args = append(args, p.s3.binds...)
	}
	args = append(args, "--ro-bind", taskDir, taskMount)
	switch {
	case tmp == nil:
		args = append(args, "--size", "1048576", "--tmpfs", "/tmp")
	case tmp.mount != "":
		args = append(args, "--bind", tmp.mount, "/tmp")
	default: // without root (see rootless.go)
		args = append(args, "--size", strconv.FormatInt(tmp.tmpfsBytes, 10), "--perms", "0700", "--tmpfs", "/tmp")
	}
	return append(args,
		"--proc", "/proc",
		"--dev", "/dev",
		// The root and /dev are tmpfs that bwrap made as the sandbox's
		// user: make them read-only, as Lambda's file system is outside
		// /tmp.
		"--remount-ro", "/dev",
		"--remount-ro", "/",
		"--chdir", taskMount,
		"--")
}

// sysProcAttr runs bubblewrap as the sandbox's unprivileged user, so that
// its user namespace maps to that user and not to root, in its own process
// group, away from the runner's terminal signals.
func (p *Platform) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if !p.rootless { // without root, bubblewrap runs as faaslab's user (see rootless.go)
		attr.Credential = &syscall.Credential{Uid: uint32(p.opts.UID), Gid: uint32(p.opts.GID), Groups: []uint32{}}
	}
	return attr
}

// startContainer starts a container for d inside a new cgroup. The
// runtime begins its init at once; its first next says when it is done.
func (d *deployment) startContainer() (*container, error) {
	return d.startProgram(d.p.opts.Python, "-B", "-u", path.Join(runtimeMount, harness.BootstrapFile), harness.BootstrapNoHostCPU)
}

// startProgram starts command as a container for d: in d's sandbox and a
// new cgroup, with the transport's pipes. Benchmarks start other programs
// than the runtime with it.
func (d *deployment) startProgram(command ...string) (c *container, err error) {
	p := d.p
	seq := strconv.FormatUint(p.seq.Add(1), 10)
	cg, err := p.cgroups.create(p.groupPrefix+seq, d.limits)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	var cmd *exec.Cmd
	var tmp *tmpStore
	var s3 *s3Endpoint
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			if s3 != nil {
				s3.close()
			}
			err = errors.Join(err, cg.kill(killTimeout, 0))
			if cmd != nil && cmd.Process != nil {
				// Started, but the fork thread failed to move back out.
				cmd.Wait()
			}
			err = errors.Join(err, cg.remove())
			if tmp != nil {
				err = errors.Join(err, tmp.remove())
			}
		}
	}()
	tmp, err = d.newContainerTmp(seq)
	if err != nil {
		tmp = nil
		return nil, err
	}
	pipe := func() (r, w *os.File) {
		if err != nil {
			return nil, nil
		}
		if r, w, err = os.Pipe(); err == nil {
			files = append(files, r, w)
		}
		return r, w
	}
	requestsR, requestsW := pipe()
	repliesR, repliesW := pipe()
	logR, logW := pipe()
	if err != nil {
		return nil, fmt.Errorf("create pipes: %w", err)
	}

	log, err := newLogSink(logR, p.opts.MaxLogBytes)
	if err != nil {
		return nil, err
	}

	env := d.env
	if d.fn.S3 != nil {
		// Its own network namespace, made before the sandbox starts, so
		// that the endpoint is there when the function's init runs.
		if s3, err = newS3Endpoint(d.fn.S3, &p.s3, p.deployDir); err != nil {
			s3 = nil
			return nil, fmt.Errorf("object storage: %w", err)
		}
		env = s3.environment(env)
	}
	args := p.sandboxArgs(d.taskDir, tmp, env, s3 != nil)
	args = append(args, command...)
	cmd = exec.Command(p.opts.Bwrap, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logW, logW
	cmd.ExtraFiles = []*os.File{requestsR, repliesW} // fds 3 and 4
	cmd.SysProcAttr = p.sysProcAttr()
	// started precedes the fork: the runtime's own init time must fit
	// between started and its first next.
	started := time.Now()
	if err = cg.start(p.cgroups, cmd, s3.namespace()); err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	// The sandbox and the listener hold the namespace now.
	s3.releaseNamespace()
	// The sandbox holds its ends now.
	requestsR.Close()
	repliesW.Close()
	logW.Close()
	files = nil

	c = &container{
		cmd: cmd, cg: cg, requests: requestsW, replies: repliesR,
		// One message of room: the runtime sends its next request with
		// its answer, and the reader leaves it there and waits on the pipe,
		// instead of blocking until the next invocation takes it, which
		// would then have to wake the reader's thread first.
		messages: make(chan received, 1), stop: make(chan struct{}), read: make(chan struct{}),
		exited: make(chan struct{}), log: log, started: started, tmp: tmp, s3: s3,
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		readMessages(repliesR, c.messages, c.stop)
		close(c.read)
	}()
	return c, nil
}

// freezerLeaver is a group whose freezer is a hierarchy of its own
// (cgroup v1), from which processes can leave while staying in the group
// for every other controller.
type freezerLeaver interface {
	leaveFreezer(pids []int) error
}

// unfreezeSupervisor takes the outer bubblewrap, which faaslab started
// and which only waits for its child, out of the freezer where the host's
// cgroups allow it (v1). Every process the freezer stops is woken twice
// per warm invocation, and the kernel thaws a group's processes in the
// order they joined it, so it was woken before the runtime on every warm
// call. Its memory, CPU time and process count stay the container's. The
// function cannot reach it: it lives in the host's pid namespace, which
// the function cannot name a process of. The inner bubblewrap, init of the
// sandbox's pid namespace, stays frozen with the runtime: the function
// can ptrace it (no Yama here, no seccomp in the sandbox), and code it
// injected there must stop between invocations as the function's own
// processes do. A failure leaves the supervisor frozen with the rest,
// which is only slower.
func (c *container) unfreezeSupervisor() {
	if leaver, ok := c.cg.group.(freezerLeaver); ok {
		leaver.leaveFreezer([]int{c.cmd.Process.Pid})
	}
}

// exitDescription says how the runtime ended, in Lambda's words: bwrap
// reports a child killed by signal n as exit status 128+n.
func (c *container) exitDescription() string {
	select {
	case <-c.exited:
	default:
		return "Runtime closed its connection to the Runtime API"
	}
	var exitErr *exec.ExitError
	if !errors.As(c.waitErr, &exitErr) {
		if c.waitErr != nil {
			return "Runtime exited with error: " + c.waitErr.Error()
		}
		return "Runtime exited without providing a reason: exit status 0"
	}
	ws, _ := exitErr.Sys().(syscall.WaitStatus)
	code := ws.ExitStatus()
	switch {
	case ws.Signaled():
		return "Runtime exited with error: signal: " + ws.Signal().String()
	case code > 128 && code <= 128+64:
		return "Runtime exited with error: signal: " + syscall.Signal(code-128).String()
	}
	return fmt.Sprintf("Runtime exited with error: exit status %d", code)
}

// waitExit waits up to d for the sandbox to exit, thawing it first: a
// frozen process cannot exit.
func (c *container) waitExit(d time.Duration) {
	c.thaw()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
	}
}

// destroy kills every process of the container, waits for its goroutines
// and removes its cgroup. Only destroy's error says that something
// survived.
func (c *container) destroy() error {
	killErr := c.cg.kill(killTimeout, c.cmd.Process.Pid)
	if c.s3 != nil {
		c.s3.close()
	}
	close(c.stop)
	c.requests.Close()
	// With every process gone the pipes are at end of file and the
	// goroutines end; the timer only guards against a kernel that lags.
	t := time.NewTimer(killTimeout)
	defer t.Stop()
	var leakErr error
	for _, done := range []chan struct{}{c.exited, c.read, c.log.done} {
		select {
		case <-done:
		case <-t.C:
			leakErr = fmt.Errorf("container goroutines still running %v after kill", killTimeout)
		}
		if leakErr != nil {
			break
		}
	}
	c.replies.Close()
	c.log.file.Close()
	c.host.close()
	if killErr != nil || leakErr != nil {
		return errors.Join(killErr, leakErr)
	}
	// With its processes gone, nothing but the host's mount holds the
	// container's /tmp.
	return errors.Join(c.cg.remove(), c.tmp.remove())
}
