package local

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/faaslab/faaslab/runner/platform/local/internal/v2vm"
)

// v2VMModules are the kernel modules that the VM's init loads, with what
// they depend on: virtio's PCI transport, its block device (the scratch
// disk) and 9p (the host's file system); ext4 for the scratch disk, with
// crc32c for its checksums; and loop, for the containers' /tmp.
var v2VMModules = []string{"virtio_pci", "virtio_blk", "9pnet_virtio", "9p", "crc32c_generic", "ext4", "loop"}

// writeInitramfs writes the VM's initramfs to path (an uncompressed cpio
// archive, which the kernel unpacks as is): the init, built here, its
// configuration (with what of the host's file system the VM's root
// holds), the modules and this test binary.
func (vm v2VM) writeInitramfs(path string, root v2VMRoot) error {
	modules, err := moduleFiles(vm.modules, v2VMModules)
	if err != nil {
		return err
	}
	init := filepath.Join(filepath.Dir(path), "init")
	if err := buildV2VMInit(init); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	pattern, skip := "^("+strings.Join(vm.tests, "|")+")$", vm.skip
	if run := os.Getenv(v2VMRunEnv); run != "" {
		pattern, skip = run, ""
	}
	cfg := v2vm.Config{
		Shares: root.shares, Symlinks: root.symlinks, Unreachable: root.unreachable,
		Scratch: "/dev/vda", Dir: wd, Cgroup: "faaslab-tests.scope",
		Args: []string{"/local.test", "-test.run", pattern, "-test.v", "-test.count=1",
			"-test.timeout", vm.testTimeout().String(), "-test.skip", skip},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
			"TMPDIR=/tmp", "LANG=C.UTF-8", v2VMEnv + "=guest"},
	}
	files := map[string]string{"init": init, "local.test": os.Args[0]}
	for _, m := range modules {
		name := filepath.Base(m)
		cfg.Modules = append(cfg.Modules, name)
		files["modules/"+name] = m
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return err
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := &cpioWriter{w: bufio.NewWriter(f)}
	for _, d := range []string{"dev", "proc", "sys", "newroot", "modules"} {
		w.dir(d)
	}
	// The console the kernel opens for init, before init mounts /dev.
	w.charDevice("dev/console", 5, 1)
	w.file(strings.TrimPrefix(v2vm.ConfigPath, "/"), 0o644, config)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := os.ReadFile(files[name])
		if err != nil {
			f.Close()
			return err
		}
		w.file(name, 0o755, data)
	}
	w.trailer()
	if err := w.w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// buildV2VMInit builds internal/v2vminit, statically, to out.
func buildV2VMInit(out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./internal/v2vminit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the VM's init: %w: %s", err, data)
	}
	return nil
}

// moduleFiles returns the files of the modules names in dir (a
// lib/modules/<version> directory), and of those they depend on, in an
// order in which they load: each after its dependencies. It reads the
// dependencies from each module's .modinfo section, since a kernel
// package that was unpacked, not installed, has no modules.dep. A module
// that modules.builtin lists needs no file.
func moduleFiles(dir string, names []string) ([]string, error) {
	byName := map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".ko") {
			byName[moduleName(path)] = path
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	builtin, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	var order []string
	seen := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		name = strings.ReplaceAll(name, "-", "_")
		if seen[name] {
			return nil
		}
		seen[name] = true
		path, ok := byName[name]
		if !ok {
			if bytes.Contains(builtin, []byte("/"+name+".ko\n")) || bytes.Contains(builtin, []byte("/"+strings.ReplaceAll(name, "_", "-")+".ko\n")) {
				return nil
			}
			return fmt.Errorf("kernel module %s: not in %s", name, dir)
		}
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, dep := range deps {
			if err := visit(dep); err != nil {
				return err
			}
		}
		order = append(order, path)
		return nil
	}
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleName is the name of the module in the file path, as the kernel
// spells it ("_" for "-").
func moduleName(path string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".ko"), "-", "_")
}

// moduleDepends reads the modules that the module in path depends on from
// its .modinfo section ("depends=a,b").
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kernel module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("kernel module %s: no .modinfo", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("kernel module %s: %w", path, err)
	}
	for _, field := range bytes.Split(data, []byte{0}) {
		if deps, ok := bytes.CutPrefix(field, []byte("depends=")); ok && len(deps) > 0 {
			return strings.Split(string(deps), ","), nil
		}
	}
	return nil, nil
}

// cpioWriter writes a cpio archive in the "newc" format, which the
// kernel's initramfs wants. Errors stay in its bufio.Writer until Flush.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
}

func (c *cpioWriter) dir(name string) { c.entry(name, syscall.S_IFDIR|0o755, 0, 0, nil) }

func (c *cpioWriter) file(name string, perm int, data []byte) {
	c.entry(name, syscall.S_IFREG|perm, 0, 0, data)
}

func (c *cpioWriter) charDevice(name string, major, minor int) {
	c.entry(name, syscall.S_IFCHR|0o600, major, minor, nil)
}

func (c *cpioWriter) trailer() { c.entry("TRAILER!!!", 0, 0, 0, nil) }

// entry writes one header, name and data, each padded to four bytes.
func (c *cpioWriter) entry(name string, mode, rdevMajor, rdevMinor int, data []byte) {
	c.ino++
	nlink := 1
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		nlink = 2
	}
	// magic, then ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize and check, in hex.
	fmt.Fprintf(c.w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.w.WriteString(name)
	c.w.WriteByte(0)
	c.pad(110 + len(name) + 1)
	c.w.Write(data)
	c.pad(len(data))
}

func (c *cpioWriter) pad(n int) {
	c.w.Write(make([]byte, (4-n%4)%4))
}
