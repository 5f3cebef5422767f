// Command v2vminit is the init of the VM in which TestCgroupV2VM
// (runner/platform/local/v2vm_test.go) runs the local platform's tests on
// a kernel whose only cgroup hierarchy is cgroup v2. The test builds it
// statically and puts it at /init of the VM's initramfs, beside the
// kernel modules it loads, the package's test binary and its configuration
// (v2vm.Config).
//
// It loads the modules, builds the new root from the host's directories
// that the test exports to it read-only through 9p, and no others (it
// checks that the host's /proc is not among what it reaches), gives it a
// scratch disk where tests write, mounts cgroup2 alone at /sys/fs/cgroup
// and enables its controllers as systemd does, runs the test binary in
// it, prints v2vm.ExitMarker and the binary's exit status on the console,
// and powers the VM off. As PID 1 it also reaps every orphan. Any failure
// is printed with v2vm.ExitMarker and status 125 (the inner tests never
// exit with it).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faaslab/faaslab/runner/platform/local/internal/loopback"
	"github.com/faaslab/faaslab/runner/platform/local/internal/v2vm"
)

func main() {
	status := 125
	if err := run(&status); err != nil {
		fmt.Fprintf(os.Stderr, "faaslab-v2vm: init: %v\n", err)
	}
	fmt.Printf("\n%s %d\n", v2vm.ExitMarker, status)
	unix.Sync()
	powerOff()
}

// powerOff ends the VM; qemu runs with -no-reboot, so a restart ends it
// too where power-off does not work.
func powerOff() {
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	for {
		time.Sleep(time.Hour)
	}
}

// run sets the VM up, runs the tests and sets *status to their exit
// status.
func run(status *int) error {
	for _, m := range []struct{ source, target, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := mount(m.source, m.target, m.fstype, 0, ""); err != nil {
			return err
		}
	}
	console, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err == nil {
		for fd := 0; fd <= 2; fd++ {
			unix.Dup3(int(console.Fd()), fd, 0)
		}
	}
	fmt.Println(v2vm.StartedLine)
	data, err := os.ReadFile(v2vm.ConfigPath)
	if err != nil {
		return err
	}
	var cfg v2vm.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", v2vm.ConfigPath, err)
	}
	if err := checkNoNetwork(); err != nil {
		return err
	}
	for _, m := range cfg.Modules {
		if err := loadModule(filepath.Join("/modules", m)); err != nil {
			return err
		}
	}
	if err := mountRoot(cfg); err != nil {
		return err
	}
	if err := loopback.Up(); err != nil {
		return err
	}
	bin, err := installTests(cfg)
	if err != nil {
		return err
	}
	if err := switchRoot("/newroot"); err != nil {
		return err
	}
	return runTests(cfg, bin, status)
}

// switchRoot makes dir the root, as switch_root does: it moves dir's
// mounts over the initramfs and enters them. A chroot alone would not
// do: the kernel refuses a chrooted process new user namespaces, which
// the sandbox creates.
func switchRoot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", dir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// checkNoNetwork fails if the VM has a network controller, whether or
// not a driver claims it: the tests, and the generated code they run,
// must reach no network.
func checkNoNetwork() error {
	classes, _ := filepath.Glob("/sys/bus/pci/devices/*/class")
	for _, path := range classes {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// PCI class 0x02: network controller.
		if strings.HasPrefix(string(data), "0x02") {
			return fmt.Errorf("the VM has a network controller, %s: qemu must run with -nic none", filepath.Dir(path))
		}
	}
	if len(classes) == 0 {
		return errors.New("no PCI devices in /sys/bus/pci: cannot check that the VM has no network controller")
	}
	return nil
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil && !errors.Is(err, unix.EROFS) {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", source, fstype, target, err)
	}
	return nil
}

// loadModule loads the kernel module in file; one already loaded (or
// built in) is fine.
func loadModule(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", file, err)
	}
	return nil
}

// mountRoot builds the tests' root at /newroot: a tmpfs holding the VM's
// own writable places (the scratch disk at /var/lib, with /tmp and
// /var/tmp bound from it, so that the platform's work directory and its
// /tmp images sit on a disk as on a host; tmpfs for /run and /root), then
// the host's directories in cfg.Shares, read-only, and cfg.Symlinks, and
// the kernel's file systems, with cgroup2 as the only cgroup hierarchy.
// The shares go on top of the VM's own places, so that a checkout under
// /tmp, /var/lib or /root stays in sight. The tmpfs is then made
// read-only, as the host's root was when the VM had it all.
func mountRoot(cfg v2vm.Config) error {
	if err := mount("tmpfs", "/newroot", "tmpfs", 0, "mode=755"); err != nil {
		return err
	}
	if err := mountScratch(cfg.Scratch); err != nil {
		return err
	}
	own := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"/newroot/var/lib/tmp", "/newroot/tmp", "", unix.MS_BIND, ""},
		{"/newroot/var/lib/var-tmp", "/newroot/var/tmp", "", unix.MS_BIND, ""},
		{"tmpfs", "/newroot/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=755"},
		{"tmpfs", "/newroot/root", "tmpfs", 0, "mode=700"},
	}
	for _, m := range own {
		if err := mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return err
		}
	}
	for _, sh := range cfg.Shares {
		// Devices appear as their drivers probe them, which may take a
		// moment after the module loaded.
		err := retry(func() error {
			return mount(sh.Tag, "/newroot"+sh.Path, "9p", unix.MS_RDONLY,
				"trans=virtio,version=9p2000.L,cache=loose,msize=512000,access=any")
		})
		if err != nil {
			return err
		}
	}
	for _, l := range cfg.Symlinks {
		if err := os.Symlink(l.Target, "/newroot"+l.Path); err != nil {
			return err
		}
	}
	// Before the VM's own /proc, /sys and /dev hide what lies beneath.
	if err := checkUnreachable("/newroot", cfg.Shares, cfg.Unreachable); err != nil {
		return err
	}
	kernel := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", "/newroot/proc", "proc", 0, ""},
		{"sysfs", "/newroot/sys", "sysfs", 0, ""},
		// As systemd mounts it on a cgroup v2 host.
		{"cgroup2", "/newroot/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "nsdelegate,memory_recursiveprot"},
		{"devtmpfs", "/newroot/dev", "devtmpfs", 0, ""},
		{"devpts", "/newroot/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666"},
		{"tmpfs", "/newroot/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
	for _, m := range kernel {
		if err := mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return err
		}
	}
	if err := unix.Mount("", "/newroot", "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make the root read-only: %w", err)
	}
	return nil
}

// mountScratch mounts the scratch disk at /newroot/var/lib with the
// directories that /tmp and /var/tmp are bound from.
func mountScratch(disk string) error {
	// noinit_itable: the test's mkfs left the inode tables unzeroed, and
	// no kernel thread need zero them for a disk that lives one run.
	if err := retry(func() error { return mount(disk, "/newroot/var/lib", "ext4", 0, "noinit_itable") }); err != nil {
		return err
	}
	// World-writable and sticky, as a host's: Go's FileMode spells the
	// sticky bit os.ModeSticky, not 0o1000.
	for _, dir := range []string{"tmp", "var-tmp"} {
		if err := os.MkdirAll(filepath.Join("/newroot/var/lib", dir), 0o777); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join("/newroot/var/lib", dir), 0o777|os.ModeSticky); err != nil {
			return err
		}
	}
	return os.Chmod("/newroot/var/lib", 0o755)
}

// checkUnreachable fails if any of paths, on the host, is in the tree at
// root through one of shares: the VM must reach only the host's
// directories it was given, never the host's /proc (its processes'
// environments, its memory in /proc/kcore), /sys, /dev or home
// directories, which qemu, running as the host's root, would read for it.
// A path is on a share when it lies on the share's file system: the same
// device as the share's mount point (the 9p client's, whatever host
// mounts it crosses). A path that exists on a file system of the VM's own
// (its /root, /run or /tmp) is not the host's.
func checkUnreachable(root string, shares []v2vm.Share, paths []string) error {
	if len(paths) == 0 {
		return errors.New("no paths to check as unreachable from the VM")
	}
	devs := map[uint64]string{}
	for _, sh := range shares {
		var st unix.Stat_t
		if err := unix.Stat(root+sh.Path, &st); err != nil {
			return fmt.Errorf("share %s: %w", sh.Path, err)
		}
		devs[st.Dev] = sh.Path
	}
	for _, path := range paths {
		var st unix.Stat_t
		err := unix.Lstat(filepath.Join(root, path), &st)
		switch {
		case err == nil && devs[st.Dev] != "":
			return fmt.Errorf("the host's %s is reachable in the VM, through the share of %s", path, devs[st.Dev])
		case err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR):
			return fmt.Errorf("check that the host's %s is unreachable: %w", path, err)
		}
	}
	fmt.Printf("faaslab-v2vm: none of the host's %s is reachable\n", strings.Join(paths, ", "))
	return nil
}

// retry runs f until it succeeds, for up to 30 seconds.
func retry(f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// installTests copies the test binary onto the scratch disk, whence the
// tests copy it again for their unprivileged children, and returns its
// path in the new root.
func installTests(cfg v2vm.Config) (string, error) {
	const dir = "/var/lib/faaslab-v2vm"
	bin := filepath.Join(dir, filepath.Base(cfg.Args[0]))
	if err := os.MkdirAll("/newroot"+dir, 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(cfg.Args[0])
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile("/newroot"+bin, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return bin, err
}

// enableControllers enables every controller of the hierarchy for the
// groups beneath its root, as systemd does when it boots a cgroup v2
// host.
func enableControllers() error {
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return err
	}
	var enable []string
	for _, c := range strings.Fields(string(data)) {
		enable = append(enable, "+"+c)
	}
	err = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(strings.Join(enable, " ")), 0)
	if err != nil {
		return fmt.Errorf("enable the controllers %s at the cgroup root: %w", data, err)
	}
	return nil
}

// runTests runs the test binary in cfg.Cgroup, reaping every process
// that ends meanwhile (PID 1 inherits the orphans), and sets *status to
// its exit status.
func runTests(cfg v2vm.Config, bin string, status *int) error {
	if err := enableControllers(); err != nil {
		return err
	}
	group := filepath.Join("/sys/fs/cgroup", cfg.Cgroup)
	if err := os.Mkdir(group, 0o755); err != nil {
		return err
	}
	dir, err := os.Open(group)
	if err != nil {
		return err
	}
	defer dir.Close()
	argv := append([]string{bin}, cfg.Args[1:]...)
	fmt.Printf("faaslab-v2vm: in %s, cgroup %s: %s\n", cfg.Dir, group, strings.Join(argv, " "))
	pid, err := syscall.ForkExec(bin, argv, &syscall.ProcAttr{
		Dir: cfg.Dir, Env: cfg.Env, Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())},
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for the tests: %w", err)
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			*status = ws.ExitStatus()
		case ws.Signaled():
			fmt.Printf("faaslab-v2vm: the tests died of %v\n", ws.Signal())
			*status = 128 + int(ws.Signal())
		}
		return nil
	}
}
