package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform/local/internal/v2vm"
)

// TestCgroupV2VM runs the cgroup v2 driver's real tests and the local
// platform's sandbox tests on a kernel whose only cgroup hierarchy is
// cgroup v2, with memory, cpu and pids on it, as on a host that mounts the
// unified hierarchy alone: it boots a Debian kernel in a qemu VM (KVM
// where the host has it) without a network device, whose init
// (internal/v2vminit) builds a root of the host's system directories and
// this module's, exported read-only through 9p (hostRoot; never the
// host's whole root, whose /proc qemu would read for the VM as root), and
// runs this package's test binary in it (see v2VMTests and
// v2VMEmulatedTests). On a hybrid host, whose controllers are all bound to
// cgroup v1, this is the only place where the driver's controller files
// meet a real kernel.
//
// It needs qemu-system-x86_64 and the kernel that scripts/v2-vm-kernel
// fetches; without them it skips, unless FAASLAB_V2_VM=require (as CI
// sets it), when it fails.
func TestCgroupV2VM(t *testing.T) {
	if inV2VM() {
		t.Skip("inside the VM")
	}
	vm := findV2VM(t)
	console, err := vm.run(t)
	if errors.Is(err, errNoInit) && vm.accel == "kvm" {
		t.Logf("%v: KVM does not boot this kernel here; again, emulating the CPU (TCG)", err)
		vm = vm.withTCG()
		console, err = vm.run(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	vm.check(t, console)
}

// run boots the VM with a fresh initramfs and scratch disk and returns
// its console's lines.
func (vm v2VM) run(t *testing.T) ([]string, error) {
	t.Logf("kernel %s, %s", vm.kernel, vm.accel)
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	root, err := hostRoot(dir)
	if err != nil {
		return nil, err
	}
	if err := vm.writeInitramfs(initrd, root); err != nil {
		return nil, err
	}
	scratch := filepath.Join(dir, "scratch.img")
	if err := makeScratchDisk(scratch); err != nil {
		return nil, err
	}
	start := time.Now()
	console, err := vm.boot(t, initrd, scratch, root)
	t.Logf("the VM ran for %v", time.Since(start).Round(time.Second))
	return console, err
}

// v2VMEnv is FAASLAB_V2_VM: "require" makes TestCgroupV2VM fail where it
// would skip; the VM's init sets it to "guest" for the tests inside,
// which then fail where they would skip or fall back to the driver's
// core for want of cgroup v2 controllers.
const v2VMEnv = "FAASLAB_V2_VM"

// v2VMRunEnv is FAASLAB_V2_VM_RUN: a -test.run pattern that replaces
// the VM's list of tests, to run others in it while working on them.
const v2VMRunEnv = "FAASLAB_V2_VM_RUN"

// inV2VM reports whether the tests run inside TestCgroupV2VM's VM.
func inV2VM() bool { return os.Getenv(v2VMEnv) == "guest" }

// v2VMTests are the tests run inside the VM where KVM runs it: the v2
// driver's real tests, and the platform's sandbox tests that exercise
// what the driver does for a container: the conformance suite, the
// hostile functions (pids.max and cgroup.kill against the fork bombs,
// memory.max and memory.events' oom_kill against the memory bomb),
// freezing, cpu.max and cpu.stat's throttling, memory.peak, /tmp's disk
// filled within memory.max, the parent's cpu.weight, and the reaping of a
// dead runner's groups.
var v2VMTests = []string{
	"TestCgroupV2Real", "TestCgroupV2RealDelegated",
	"TestConformance", "TestNormal", "TestHostile",
	"TestFreezeBetweenInvocations", "TestNoFreeze",
	"TestMaxMemoryUsed", "TestInvocationCPU", "TestCPUShare",
	"TestTmpFull", "TestContainersWeighedAsSessions", "TestRunnerDeath",
}

// v2VMEmulatedTests are the tests run inside the VM where its CPU is
// emulated (TCG), which makes a cold start 10–20 times slower: each of the
// driver's controller files still meets the kernel, in about 70 s on
// faaslab's 2-core test machine. TestHostile runs only
// v2VMEmulatedHostile.
var v2VMEmulatedTests = []string{
	"TestCgroupV2Real", "TestCgroupV2RealDelegated",
	"TestConformance", "TestHostile",
	"TestFreezeBetweenInvocations", "TestMaxMemoryUsed", "TestInvocationCPU", "TestCPUShare",
	"TestContainersWeighedAsSessions", "TestRunnerDeath",
}

// v2VMEmulatedHostile are the hostile cases that stay under TCG: those
// that meet pids.max, cgroup.kill and memory.events.
var v2VMEmulatedHostile = []string{"fork_bomb", "fork_limit", "memory_bomb"}

// v2VM is a VM that TestCgroupV2VM can boot.
type v2VM struct {
	qemu    string
	kernel  string // vmlinuz
	modules string // lib/modules/<version>
	accel   string // kvm or tcg
	// tests run inside; skip is a -test.skip pattern.
	tests []string
	skip  string
	// timeout bounds the whole run, boot included; bootDeadline bounds
	// the boot, until the init starts (see v2VMTimeout).
	timeout, bootDeadline time.Duration
}

// v2VMTimeout bounds a run, boot included: some 6 times an emulated run,
// 70–100 s on faaslab's 2-core test machine. The boot takes a
// few seconds under KVM and 10–20 s emulated; a KVM that cannot boot the
// kernel is given up after v2VMKVMBootDeadline, and the run emulated
// again, so that the worst case, 11.5 minutes, stays well within CI's
// go test -timeout.
const (
	v2VMTimeout              = 10 * time.Minute
	v2VMKVMBootDeadline      = 90 * time.Second
	v2VMEmulatedBootDeadline = 2 * time.Minute
)

// testTimeout is the tests' own -test.timeout inside the VM: what is
// left of the run after the longest boot, less a minute, so that a test
// that hangs has the binary print every goroutine's stack before qemu is
// killed.
func (vm v2VM) testTimeout() time.Duration {
	return vm.timeout - vm.bootDeadline - time.Minute
}

// findV2VM finds qemu and the kernel, or skips (fails under
// FAASLAB_V2_VM=require) saying what is missing.
func findV2VM(t *testing.T) v2VM {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv(v2VMEnv) == "require" {
			t.Fatalf("%s (%s=require)", msg, v2VMEnv)
		}
		t.Skip(msg)
	}
	if runtime.GOARCH != "amd64" {
		missing("the cgroup v2 VM boots an amd64 kernel; this is %s", runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		// The tests inside run as the VM's root; outside, root is what
		// the other real cgroup tests need too.
		missing("needs root, as the tests it runs inside the VM")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		missing("no qemu-system-x86_64 (apt-get install qemu-system-x86): the cgroup v2 driver's controllers stay tested against the fake tree only")
	}
	kernelDir := v2VMKernelDir()
	kernels, _ := filepath.Glob(filepath.Join(kernelDir, "boot", "vmlinuz-*"))
	if len(kernels) == 0 {
		missing("no kernel in %s: run scripts/v2-vm-kernel", kernelDir)
	}
	version := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	vm := v2VM{qemu: qemu, kernel: kernels[0], modules: filepath.Join(kernelDir, "lib", "modules", version),
		accel: "kvm", timeout: v2VMTimeout, bootDeadline: v2VMKVMBootDeadline, tests: v2VMTests}
	if err := kvmWorks(); err != nil {
		t.Logf("no KVM (%v): emulating the CPU (TCG), which is many times slower", err)
		vm = vm.withTCG()
	}
	return vm
}

// withTCG returns vm with the CPU emulated, and the time to match.
func (vm v2VM) withTCG() v2VM {
	vm.accel, vm.timeout, vm.bootDeadline, vm.tests = "tcg", v2VMTimeout, v2VMEmulatedBootDeadline, v2VMEmulatedTests
	var skip []string
	for _, tc := range hostileCases {
		if !slices.Contains(v2VMEmulatedHostile, tc.name) {
			skip = append(skip, tc.name)
		}
	}
	vm.skip = "^TestHostile$/^(" + strings.Join(skip, "|") + ")$"
	return vm
}

// v2VMKernelDir is where scripts/v2-vm-kernel puts the kernel:
// $FAASLAB_V2_VM_KERNEL/current, by default in root's cache.
func v2VMKernelDir() string {
	cache := os.Getenv("FAASLAB_V2_VM_KERNEL")
	if cache == "" {
		cache = "/var/cache/faaslab/v2-vm-kernel"
	}
	return filepath.Join(cache, "current")
}

// kvmWorks checks that /dev/kvm answers, as nested KVM may not, and that
// it is hardware virtualization: PVM (the kvm_pvm module), which some
// cloud VMs offer for nesting, runs only kernels built as PVM guests, and
// a stock kernel spins in its decompressor there.
func kvmWorks() error {
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return errors.New("KVM is PVM (kvm_pvm), which boots PVM guest kernels only")
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xae00
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	switch {
	case errno != 0:
		return fmt.Errorf("KVM_GET_API_VERSION: %w", errno)
	case v != 12:
		return fmt.Errorf("KVM API version %d, want 12", v)
	}
	return nil
}

// v2VMRoot is what the VM's root holds of the host's file system.
type v2VMRoot struct {
	shares      []v2vm.Share
	symlinks    []v2vm.Symlink
	unreachable []string
}

// v2VMTops are the host's top-level directories that the VM's root
// holds: the system (merged-/usr systems link /bin, /sbin and the /lib
// directories into /usr) and its configuration.
var v2VMTops = []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// hostRoot returns what the VM's root holds of the host's: v2VMTops,
// each exported as a directory or recreated as a link, and the module's
// directory, at its own path, where the tests run and read their
// testdata. tmp is the test's temporary directory, which the VM must not
// reach, as it must not reach the host's /proc, /sys, /dev or home
// directories.
func hostRoot(tmp string) (v2VMRoot, error) {
	var root v2VMRoot
	for _, top := range v2VMTops {
		fi, err := os.Lstat(top)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return root, err
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(top)
			if err != nil {
				return root, err
			}
			root.symlinks = append(root.symlinks, v2vm.Symlink{Path: top, Target: target})
		case fi.IsDir():
			root.shares = append(root.shares, v2vm.Share{Tag: strings.TrimPrefix(top, "/"), Path: top})
		}
	}
	module, err := moduleRoot()
	if err != nil {
		return root, err
	}
	root.shares = append(root.shares, v2vm.Share{Tag: "module", Path: module})
	hostProc := fmt.Sprintf("/proc/%d/environ", os.Getpid())
	for _, path := range []string{hostProc, "/proc/kcore", "/sys/kernel", "/dev/kvm", "/root", "/home", "/run", tmp} {
		if _, err := os.Lstat(path); err == nil {
			root.unreachable = append(root.unreachable, path)
		}
	}
	if !slices.Contains(root.unreachable, hostProc) {
		return root, fmt.Errorf("no %s on the host, to check that the VM cannot reach it", hostProc)
	}
	return root, nil
}

// moduleRoot returns the directory of the Go module that holds the
// working directory.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// virtfs is qemu's -virtfs for share: read-only, with no change to the
// credentials qemu, as root, reads with.
func virtfs(share v2vm.Share) string {
	// qemu's options escape a comma by doubling it.
	return "local,path=" + strings.ReplaceAll(share.Path, ",", ",,") + ",mount_tag=" + share.Tag +
		",security_model=none,readonly=on,multidevs=remap"
}

// makeScratchDisk makes the VM's scratch disk at path: a sparse image
// with an empty ext4 file system, large enough for the platform's work
// directory and the containers' /tmp images, which are sparse too.
func makeScratchDisk(path string) error {
	mkfs, err := findMkfs()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = f.Truncate(16 << 30)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// As formatTmpImage's: no journal, which mkfs would write in full,
	// and inode tables left for the init's mount (noinit_itable) never to
	// zero, which the guest's kernel would otherwise do, through emulated
	// virtio, while the tests run.
	out, err := exec.Command(mkfs, "-q", "-F", "-O", "^has_journal",
		"-E", "nodiscard,lazy_itable_init=1", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("format the VM's scratch disk: %w: %s", err, out)
	}
	return nil
}

// errNoInit says that the VM's init never started: qemu failed, or the
// kernel hung until its boot deadline, as a stock kernel does under a KVM
// that is not hardware virtualization.
var errNoInit = errors.New("the VM's init did not start")

// boot runs the VM until its init powers it off, logging its console, and
// returns the console's lines.
func (vm v2VM) boot(t *testing.T, initrd, scratch string, root v2VMRoot) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), vm.timeout)
	defer cancel()
	var started, stuck atomic.Bool
	deadline := time.AfterFunc(vm.bootDeadline, func() {
		if !started.Load() {
			stuck.Store(true)
			cancel()
		}
	})
	defer deadline.Stop()
	cpu := "host"
	if vm.accel == "tcg" {
		cpu = "max"
	}
	args := []string{
		"-accel", vm.accel, "-cpu", cpu, "-m", "4G", "-smp", "2",
		"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-monitor", "none",
		"-serial", "stdio", "-no-reboot",
		// No network device: nothing in the VM may reach a network.
		"-nic", "none",
		// qemu itself, as the host's root, gives up the system calls it
		// does not need: none to gain privileges, start processes or
		// change its scheduling and resources.
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
		"-kernel", vm.kernel, "-initrd", initrd,
		// cgroup_no_v1=all: no controller can be bound to cgroup v1, so
		// all of them are cgroup v2's.
		// loglevel=1: no kernel message (the OOM killer's, for the memory
		// bomb) interleaves with the tests' output on the console.
		"-append", "console=ttyS0 quiet loglevel=1 panic=-1 cgroup_no_v1=all",
		"-drive", "file=" + scratch + ",if=virtio,format=raw,cache=unsafe",
	}
	for _, share := range root.shares {
		args = append(args, "-virtfs", virtfs(share))
	}
	cmd := exec.CommandContext(ctx, vm.qemu, args...)
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	var lines []string
	s := bufio.NewScanner(stdout)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		lines = append(lines, line)
		t.Log(line)
		if strings.HasPrefix(line, v2vm.StartedLine) {
			started.Store(true)
		}
	}
	// Whatever stopped the scanner, qemu must not block on a full pipe.
	scanErr := s.Err()
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	switch {
	case stuck.Load():
		return lines, fmt.Errorf("%w within %v", errNoInit, vm.bootDeadline)
	case !started.Load():
		return lines, fmt.Errorf("%w: qemu: %v", errNoInit, err)
	case ctx.Err() != nil:
		return lines, fmt.Errorf("the VM did not finish within %v", vm.timeout)
	case err != nil:
		return lines, fmt.Errorf("qemu: %w", err)
	case scanErr != nil:
		return lines, fmt.Errorf("read the VM's console: %w", scanErr)
	}
	return lines, nil
}

// check fails t unless the console shows vm's tests passing, with none
// skipped.
func (vm v2VM) check(t *testing.T, console []string) {
	t.Helper()
	status := -1
	ran := map[string]bool{}
	for _, line := range console {
		if rest, ok := strings.CutPrefix(line, v2vm.ExitMarker+" "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil || n < 0 {
				t.Fatalf("the VM's exit status line is garbled: %q", line)
			}
			status = n
		}
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--- SKIP: ") {
			t.Errorf("skipped in the VM: %s", trimmed)
		}
		if name, ok := strings.CutPrefix(line, "--- PASS: "); ok {
			ran[strings.Fields(name)[0]] = true
		}
	}
	switch status {
	case -1:
		t.Fatal("the VM stopped without its init's exit status: it did not boot, or its init crashed (console above)")
	case 0:
	case 125:
		t.Fatal("the VM's init failed (console above)")
	default:
		t.Fatalf("the tests failed in the VM: exit status %d", status)
	}
	for _, name := range vm.tests {
		if !ran[name] && os.Getenv(v2VMRunEnv) == "" {
			t.Errorf("%s did not pass in the VM", name)
		}
	}
}
