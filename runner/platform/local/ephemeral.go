package local

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A container's /tmp is Lambda's ephemeral storage: a disk of the
// function's EphemeralMB, apart from its memory. A tmpfs would keep what a
// function writes in memory that the kernel charges to the container's
// memory cgroup and cannot reclaim without swap, so filling /tmp would be
// an out-of-memory kill. Instead each container gets a fresh ext4 file
// system in a sparse image file on the work directory's disk, attached to
// a loop device and bound into the sandbox at /tmp. What a function writes
// there is page cache: charged to its cgroup while cached, but clean pages
// are dropped and dirty ones written back when the cgroup nears its limit,
// so writing /tmp never kills a function; a full file system says "No
// space left on device" (ENOSPC). The loop device uses direct I/O on the
// image, so the image's own pages are not cached a second time.
//
// Formatting an image takes 20–120 ms, so a Platform formats one template
// per size, at the first Deploy of that size, and each container starts
// from a sparse copy of it (a few hundred KiB of data), a fresh file
// system per execution environment as on Lambda.
//
// Everything lives in the deployment's directory, named after the runner
// (see stale.go): a runner that dies leaves mounts and images that the
// next New unmounts and removes; the loop devices detach themselves
// (autoclear) when their file system is gone.

// mkfsExt4 is the formatter, from e2fsprogs.
const mkfsExt4 = "mkfs.ext4"

// tmpImageBytes is the size of an image whose free space is at least mb
// MiB: ext4's inode tables, bitmaps and group descriptors take 1.5–3%
// (measured at 512, 1,024 and 10,240 MB).
func tmpImageBytes(mb int) int64 {
	return int64(mb+mb/32+4) << 20
}

// findMkfs returns the path of mkfs.ext4, which root's PATH may lack.
func findMkfs() (string, error) {
	if path, err := exec.LookPath(mkfsExt4); err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if path := filepath.Join(dir, mkfsExt4); isExecutable(path) {
			return path, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not installed (scripts/install-deps installs e2fsprogs); it formats each container's /tmp", errUnavailable, mkfsExt4)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// checkLoopDevices reports whether the host can attach loop devices.
func checkLoopDevices() error {
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return fmt.Errorf("%w: no loop devices (/dev/loop-control: %v); each container's /tmp is a loop-mounted file system: load the loop module", errUnavailable, err)
	}
	return nil
}

// formatTmpImage creates path as a sparse image of mb MiB of free space
// holding an empty ext4 file system whose root belongs to uid and gid. It
// has no journal: the file system lives as long as one container.
func formatTmpImage(mkfs, path string, mb, uid, gid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create /tmp image: %w", err)
	}
	err = f.Truncate(tmpImageBytes(mb))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create /tmp image: %w", err)
	}
	out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", "-O", "^has_journal,^resize_inode",
		"-E", fmt.Sprintf("nodiscard,lazy_itable_init=1,root_owner=%d:%d", uid, gid), path).CombinedOutput()
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("format /tmp image: %s: %w: %s", mkfs, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// tmpTemplates are a Platform's template images, one per size, in its
// deployment directory; the next New after the runner ends removes them
// with the directory (see stale.go).
type tmpTemplates struct {
	mu     sync.Mutex
	images map[int]*tmpTemplate
}

// tmpTemplate is one template image; ready once it is formatted.
type tmpTemplate struct {
	mu    sync.Mutex
	path  string
	ready bool
}

// tmpTemplate returns the template image of mb MiB, formatting it on
// first use; a failure is tried again on the next.
func (p *Platform) tmpTemplate(mb int) (string, error) {
	p.templates.mu.Lock()
	if p.templates.images == nil {
		p.templates.images = map[int]*tmpTemplate{}
	}
	t := p.templates.images[mb]
	if t == nil {
		t = &tmpTemplate{path: filepath.Join(p.deployDir, fmt.Sprintf("tmp-template-%d.img", mb))}
		p.templates.images[mb] = t
	}
	p.templates.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready {
		if err := formatTmpImage(p.mkfs, t.path, mb, p.opts.UID, p.opts.GID); err != nil {
			return "", err
		}
		t.ready = true
	}
	return t.path, nil
}

// copySparse copies the file src to the new file dst, holes as holes.
func copySparse(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	size := fi.Size()
	if err := out.Truncate(size); err != nil {
		return err
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return fmt.Errorf("seek data in %s: %w", src, err)
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole in %s: %w", src, err)
		}
		if _, err := out.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(out, io.NewSectionReader(in, data, hole-data)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		off = hole
	}
	return nil
}

// tmpStore is one container's /tmp: an image file, the loop device it is
// attached to and the host directory where the file system is mounted,
// which bubblewrap binds at /tmp.
type tmpStore struct {
	image string
	mount string
	loop  string // /dev/loopN
	// tmpfsBytes sizes the tmpfs that bubblewrap mounts at /tmp instead,
	// without root (see rootless.go); the other fields are then empty.
	tmpfsBytes int64
}

// newContainerTmp makes the /tmp of d's container seq: a fresh file
// system from d's template, or without root a tmpfs of the function's
// ephemeral size that bubblewrap mounts in the sandbox.
func (d *deployment) newContainerTmp(seq string) (*tmpStore, error) {
	if d.p.rootless {
		return &tmpStore{tmpfsBytes: int64(d.fn.EphemeralMB) << 20}, nil
	}
	return newTmpStore(d.tmpTemplate, filepath.Join(d.dir, "tmp-"+seq+".img"), filepath.Join(d.dir, "tmp-"+seq))
}

// newTmpStore makes a fresh /tmp for a container from the template image,
// as image and mount (the mount point, created here). On error nothing is
// left behind.
func newTmpStore(template, image, mount string) (s *tmpStore, err error) {
	s = &tmpStore{image: image}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.remove())
			s = nil
		}
	}()
	if err := copySparse(template, image); err != nil {
		return s, fmt.Errorf("copy /tmp image: %w", err)
	}
	loop, err := attachLoop(image)
	if err != nil {
		return s, err
	}
	// The file system holds the device open from here on: closing it
	// does not detach it until the file system is gone (autoclear).
	defer loop.Close()
	s.loop = loop.Name()
	if err := os.Mkdir(mount, 0o700); err != nil {
		return s, fmt.Errorf("create /tmp mount point: %w", err)
	}
	s.mount = mount
	// noinit_itable: no kernel thread zeroes the unused inode tables,
	// which no one ever reads.
	if err := unix.Mount(s.loop, mount, "ext4", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOATIME, "noinit_itable"); err != nil {
		os.Remove(mount)
		s.mount = ""
		return s, fmt.Errorf("mount /tmp image %s on %s: %w", s.loop, mount, err)
	}
	// An empty /tmp, as on Lambda; its root belongs to the sandbox's user
	// (mkfs's root_owner), mode 0700.
	if err := os.Remove(filepath.Join(mount, "lost+found")); err != nil {
		return s, fmt.Errorf("prepare /tmp: %w", err)
	}
	if err := os.Chmod(mount, 0o700); err != nil {
		return s, fmt.Errorf("prepare /tmp: %w", err)
	}
	return s, nil
}

// attachLoop attaches image to a free loop device with direct I/O and
// autoclear, and returns the device, open.
func attachLoop(image string) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach /tmp image: %w", err)
	}
	defer ctl.Close()
	backing, err := os.OpenFile(image, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach /tmp image: %w", err)
	}
	defer backing.Close()
	// Another process may take the free device first: try again.
	for attempt := 0; ; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("attach /tmp image: find a free loop device: %w", err)
		}
		dev, err := os.OpenFile("/dev/loop"+strconv.Itoa(n), os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && attempt < 100 {
				// udev has not made the node yet.
				time.Sleep(time.Millisecond)
				continue
			}
			return nil, fmt.Errorf("attach /tmp image: %w", err)
		}
		cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_DIRECT_IO
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err != nil && !errors.Is(err, syscall.EBUSY) {
			// The image's file system may not support direct I/O (a
			// tmpfs work directory): cached I/O still works.
			cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
			err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		}
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, syscall.EBUSY) || attempt >= 100 {
			return nil, fmt.Errorf("attach /tmp image to /dev/loop%d: %w", n, err)
		}
	}
}

// remove unmounts the file system, waits for the loop device to detach
// and deletes the image. The container's processes must be gone: until
// then their mount namespace holds the file system, and the device.
func (s *tmpStore) remove() error {
	var errs []error
	if s.mount != "" {
		if err := unmount(s.mount); err != nil {
			errs = append(errs, err)
		} else if err := os.Remove(s.mount); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove /tmp mount point: %w", err))
		} else {
			s.mount = ""
		}
	}
	if s.loop != "" && len(errs) == 0 {
		if err := waitLoopDetached(s.loop, s.image, killTimeout); err != nil {
			errs = append(errs, err)
		} else {
			s.loop = ""
		}
	}
	if err := os.Remove(s.image); err != nil && !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("remove /tmp image: %w", err))
	}
	return errors.Join(errs...)
}

// unmount unmounts the file system at dir, lazily when something on the
// host still uses it.
func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, syscall.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("unmount /tmp at %s: %w", dir, err)
	}
	return nil
}

// loopBacking returns the file that loop device dev (/dev/loopN) is
// attached to, or "" when it is free.
func loopBacking(dev string) string {
	data, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.TrimSpace(string(data)), " (deleted)")
}

// waitLoopDetached waits up to timeout until dev no longer holds image:
// the kernel detaches an autoclear device when its last user closes it,
// which may lag the unmount.
func waitLoopDetached(dev, image string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		if loopBacking(dev) != image {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loop device %s still holds /tmp image %s %v after unmount", dev, image, timeout)
		}
		time.Sleep(pause)
	}
}

// reapTmpStores unmounts every file system mounted under dir and detaches
// every loop device attached to a file under it: what a dead runner left
// of its containers' /tmp. It does its best and reports nothing.
func reapTmpStores(dir string) {
	prefix := filepath.Clean(dir) + "/"
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		var points []string
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 64*1024), 1<<20)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) > 4 {
				if point := unescapeMountPath(fields[4]); strings.HasPrefix(point, prefix) {
					points = append(points, point)
				}
			}
		}
		f.Close()
		// Deepest first.
		for i := len(points) - 1; i >= 0; i-- {
			unix.Unmount(points[i], unix.MNT_DETACH)
		}
	}
	loops, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, path := range loops {
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(path)))
		if !strings.HasPrefix(loopBacking(dev), prefix) {
			continue
		}
		if f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			// Detaches now, or, while a file system still uses it, when
			// that is gone.
			unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
			f.Close()
		}
	}
}
