package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// rootlessUID runs TestRootless's child: a uid with no other use on a
// test machine, and no passwd entry.
const rootlessUID = 61234

// rootlessEnv passes the child its delegated cgroup parent and work
// directory, as "PARENT:WORKDIR".
const rootlessEnv = "FAASLAB_LOCAL_ROOTLESS"

// TestRootless runs the local platform without root, for real: as root
// it delegates a cgroup v1 parent group to an unprivileged uid, as README
// ("Running without root") tells an administrator to, and runs
// TestRootlessChild as that uid, in that group, with no capabilities.
// On cgroup v2 (a systemd scope with Delegate=yes), the driver's core
// runs for real as an unprivileged uid in TestCgroupV2RealDelegated
// (cgroup_v2_real_test.go), and its controller files on the fake cgroupfs
// only (cgroup_v2_test.go), where the host's v2 hierarchy has none.
func TestRootless(t *testing.T) {
	if os.Getenv(rootlessEnv) != "" {
		t.Skip("the child runs TestRootlessChild")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to delegate a cgroup to an unprivileged uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	host, err := findCgroups("faaslab")
	if err != nil {
		t.Skipf("no usable cgroups: %v", err)
	}
	v1, ok := host.driver.(*cgroupV1)
	if !ok {
		t.Skipf("delegating by hand is tested on cgroup v1 hosts only; this host uses %s", host.driver.describe())
	}

	parent := fmt.Sprintf("faaslab-rootless-%d", os.Getpid())
	var procs []string
	for _, c := range v1.controllers() {
		dir := v1.dir(c, "/"+parent)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeGroupTree(t, dir) })
		if err := chownTree(dir, rootlessUID); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	work, bin := unprivilegedBinary(t, "faaslab-rootless-")

	// The shell moves itself into the delegated groups, and then becomes
	// the unprivileged child, which stays in them.
	script := `for f in "$@"; do echo $$ > "$f" || exit 1; done; exec "$SETPRIV" --reuid=$ID --regid=$ID --clear-groups -- "$BIN" -test.run '^TestRootlessChild$' -test.v -test.count=1`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, procs...)...)
	cmd.Env = append(os.Environ(), "SETPRIV="+setpriv, "ID="+strconv.Itoa(rootlessUID), "BIN="+bin,
		rootlessEnv+"="+parent+":"+filepath.Join(work, "state"), "HOME="+work, "TMPDIR="+work)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("rootless child (uid %d, cgroup parent %s):\n%s", rootlessUID, parent, out.String())
	if err != nil {
		t.Fatalf("rootless child: %v", err)
	}
	if !strings.Contains(out.String(), "--- PASS: TestRootlessChild") {
		t.Fatalf("rootless child did not run TestRootlessChild")
	}
}

// TestRootlessChild is TestRootless's unprivileged half: the conformance
// suite, the tmpfs /tmp of the function's ephemeral size, the memory
// limit, freezing and the sandbox's uids, all without root.
func TestRootlessChild(t *testing.T) {
	env := os.Getenv(rootlessEnv)
	if env == "" {
		t.Skip("run by TestRootless")
	}
	if os.Geteuid() == 0 {
		t.Fatal("the rootless child runs as root")
	}
	parent, work, _ := strings.Cut(env, ":")
	opts := Options{CgroupParent: parent, WorkDir: work}
	t.Run("Conformance", func(t *testing.T) {
		platformtest.Grace = 30 * time.Second
		platformtest.Run(t, func(t *testing.T) platform.Platform {
			p := newPlatform(t, opts)
			if !p.rootless {
				t.Fatal("platform is not rootless")
			}
			return p
		})
	})
	p := newPlatform(t, opts)
	t.Run("Tmp", func(t *testing.T) {
		d := deployDir(t, p, "tmp_fill", func(fn *platform.Function) { fn.MemoryMB = 1024 })
		full := platformtest.Invoke(t, d, `{"mb": 600}`)
		platformtest.Want(t, full, platform.StatusError, "No space left on device")
		platformtest.Want(t, platformtest.Invoke(t, d, `{"mb": 100}`), platform.StatusOK, "")
	})
	t.Run("MemoryLimit", func(t *testing.T) {
		d := deployDir(t, p, "alloc", func(fn *platform.Function) { fn.MemoryMB = 128 })
		platformtest.Want(t, platformtest.Invoke(t, d, `{"mb": 400}`), platform.StatusCrash, "out of memory")
	})
	t.Run("FrozenAndUnprivileged", func(t *testing.T) {
		d := deployDir(t, p, "echo", nil)
		platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
		dep := d.(*deployment)
		if err := dep.waitIdle(); err != nil {
			t.Fatal(err)
		}
		if !dep.c.cg.waitFrozen(time.Minute) {
			t.Errorf("the idle container is not frozen")
		}
		pids, err := dep.c.cg.procs()
		if err != nil || len(pids) == 0 {
			t.Fatalf("container processes: %v %v", pids, err)
		}
		for _, pid := range pids {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" && f[1] != strconv.Itoa(os.Geteuid()) {
					t.Errorf("container process %d runs as uid %s on the host, want faaslab's %d", pid, f[1], os.Geteuid())
				}
			}
		}
		platformtest.Want(t, platformtest.Invoke(t, d, `{"n": 1}`), platform.StatusOK, "")
		if err := d.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// Object storage is served in a network namespace that only root
	// can make: without root, Deploy says so.
	t.Run("S3NeedsRoot", func(t *testing.T) {
		fn := platformtest.Function(t, "def handler(event, context):\n    return 1\n", func(fn *platform.Function) {
			fn.S3 = objstore.New().Handler(objstore.Scope{Bucket: "pipe"})
		})
		d, err := p.Deploy(context.Background(), fn)
		if err == nil {
			d.Close(context.Background())
			t.Fatal("deployed a function with object storage without root")
		}
		if !strings.Contains(err.Error(), "needs root") {
			t.Errorf("error %q does not say that root is needed", err)
		}
	})
}

// chownTree gives dir and everything in it to uid.
func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
}

// removeGroupTree removes the cgroup dir and its child groups, deepest
// first.
func removeGroupTree(t *testing.T, dir string) {
	var dirs []string
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if strings.HasSuffix(dirs[i], "frozen-anchor") {
			writeFile(filepath.Join(dirs[i], "freezer.state"), "THAWED")
		}
		if err := removeDir(realCgroupFS{}.rmdir, dirs[i]); err != nil {
			t.Errorf("clean up: %v", err)
		}
	}
}

// unprivilegedBinary copies this test binary, which may sit in a
// directory only root can enter, into a new directory named by prefix
// that rootlessUID owns, and returns the directory and the copy's path.
func unprivilegedBinary(t *testing.T, prefix string) (work, bin string) {
	t.Helper()
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o711); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(work, "local.test")
	if err := copyExecutable(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(work, rootlessUID); err != nil {
		t.Fatal(err)
	}
	return work, bin
}

// copyExecutable copies the file src to dst, mode 0755.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
