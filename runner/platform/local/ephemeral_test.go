package local

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// tmpFill is what testdata/tmp_fill reports.
type tmpFill struct {
	WrittenMB int `json:"written_mb"`
	Found     *string
	Entries   []string
	SizeMB    int `json:"size_mb"`
	FreeMB    int `json:"free_mb"`
}

// deployTmpFill deploys testdata/tmp_fill at 256 MB of memory, as the
// issue's demonstration asks, with ephemeralMB of /tmp (0: the default)
// and a timeout that a loaded host cannot reach: writing 600 MB at 0.14
// vCPU takes a few seconds.
func deployTmpFill(t *testing.T, p *Platform, ephemeralMB int, cold bool) platform.Deployment {
	return deployDir(t, p, "tmp_fill", func(fn *platform.Function) {
		fn.MemoryMB, fn.EphemeralMB, fn.Timeout, fn.Cold = 256, ephemeralMB, time.Minute, cold
	})
}

// TestTmpIsDisk checks that /tmp is storage apart from memory: at 256 MB
// a function writes 400 MB to it and succeeds, where a tmpfs /tmp would
// have it killed for memory; its file system has the default 512 MB.
func TestTmpIsDisk(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, Options{})
	d := deployTmpFill(t, p, 0, false)
	inv := platformtest.Invoke(t, d, `{"mb": 400}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	var got tmpFill
	platformtest.Result(t, inv, &got)
	if got.WrittenMB != 400 {
		t.Errorf("wrote %d MB, want 400", got.WrittenMB)
	}
	if got.SizeMB < 512 || got.SizeMB > 540 || got.FreeMB < 505 {
		t.Errorf("/tmp of %d MB with %d MB free, want the default 512 MB", got.SizeMB, got.FreeMB)
	}
	if inv.MaxMemoryUsedMB > 256 {
		t.Errorf("max memory used %d MB above the 256 MB limit", inv.MaxMemoryUsedMB)
	}
}

// TestTmpFull checks that filling /tmp is the function's own error, "No
// space left on device" at the default 512 MB, not a crash: the container
// stays warm and usable.
func TestTmpFull(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, Options{})
	d := deployTmpFill(t, p, 0, false)
	inv := platformtest.Invoke(t, d, `{"mb": 600}`)
	platformtest.Want(t, inv, platform.StatusError, "No space left on device")
	if inv.ErrorType != "OSError" {
		t.Errorf("error type %q (%q), want OSError", inv.ErrorType, inv.ErrorMessage)
	}
	again := platformtest.Invoke(t, d, `{"mb": 100}`)
	platformtest.Want(t, again, platform.StatusOK, "")
	if again.Cold || again.ContainerID != inv.ContainerID {
		t.Errorf("after ENOSPC: cold=%v container %s (was %s), want the same warm container", again.Cold, again.ContainerID, inv.ContainerID)
	}
}

// TestTmpEphemeralSize checks that Function.EphemeralMB sizes /tmp: 600
// MB fit in 1,024 MB.
func TestTmpEphemeralSize(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, Options{})
	d := deployTmpFill(t, p, 1024, false)
	inv := platformtest.Invoke(t, d, `{"mb": 600}`)
	platformtest.Want(t, inv, platform.StatusOK, "")
	var got tmpFill
	platformtest.Result(t, inv, &got)
	if got.WrittenMB != 600 || got.SizeMB < 1024 || got.SizeMB > 1070 {
		t.Errorf("wrote %d MB to a /tmp of %d MB, want 600 MB to 1,024 MB", got.WrittenMB, got.SizeMB)
	}
}

// TestTmpLifetime checks that /tmp lasts as long as its execution
// environment: kept across warm calls, empty in a new container.
func TestTmpLifetime(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, Options{})
	for _, cold := range []bool{false, true} {
		d := deployTmpFill(t, p, 0, cold)
		var first, second tmpFill
		inv1 := platformtest.Invoke(t, d, `{"marker": "one"}`)
		platformtest.Want(t, inv1, platform.StatusOK, "")
		platformtest.Result(t, inv1, &first)
		inv2 := platformtest.Invoke(t, d, `{"marker": "two"}`)
		platformtest.Want(t, inv2, platform.StatusOK, "")
		platformtest.Result(t, inv2, &second)
		if first.Found != nil {
			t.Errorf("cold=%v: a new container's /tmp held marker %q", cold, *first.Found)
		}
		// The harness keeps its state in /tmp/.faaslab, as a runtime would.
		if len(first.Entries) != 2 || first.Entries[0] != ".faaslab" || first.Entries[1] != "marker" {
			t.Errorf("cold=%v: a new container's /tmp holds %v, want only the harness's state and the marker", cold, first.Entries)
		}
		switch {
		case !cold && (second.Found == nil || *second.Found != "one"):
			t.Errorf("warm call found marker %v in /tmp, want %q", second.Found, "one")
		case cold && second.Found != nil:
			t.Errorf("a second cold container found marker %q in /tmp, want a fresh /tmp", *second.Found)
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if left := tmpLeftovers(p.deployDir); len(left) > 0 {
			t.Errorf("cold=%v: after Close: %v", cold, left)
		}
	}
}

// tmpLeftovers lists what remains under dir of containers' /tmp: mounts,
// loop devices attached to files there, and image files. A loop device
// detaches a moment after its file system is unmounted, so it is given a
// few seconds.
func tmpLeftovers(dir string) []string {
	prefix := filepath.Clean(dir) + "/"
	var left []string
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if fields := strings.Fields(s.Text()); len(fields) > 4 && strings.HasPrefix(unescapeMountPath(fields[4]), prefix) {
				left = append(left, "mount "+fields[4])
			}
		}
		f.Close()
	}
	images, _ := filepath.Glob(filepath.Join(dir, "*", "tmp-*"))
	for _, image := range images {
		left = append(left, "file "+image)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var loops []string
		paths, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
		for _, path := range paths {
			dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(path)))
			if backing := loopBacking(dev); strings.HasPrefix(backing, prefix) {
				loops = append(loops, "loop device "+dev+" on "+backing)
			}
		}
		if len(loops) == 0 || time.Now().After(deadline) {
			return append(left, loops...)
		}
	}
}

// TestCopySparse checks that a copy has the same bytes and the same holes
// as its source: a container's image starts as a few hundred KiB on disk,
// whatever its size.
func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 5 << 20, size - 4096} {
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte(off>>20) + 1}, 4096), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := copySparse(src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Fatalf("the copy differs from its source")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dst, &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 1<<20 {
		t.Errorf("the copy of 12 KiB of data in 16 MiB takes %d bytes on disk, want its holes kept", used)
	}
	if err := copySparse(src, dst); err == nil {
		t.Errorf("copySparse over an existing file succeeded")
	}
}
