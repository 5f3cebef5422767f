// Package v2vm is what TestCgroupV2VM (runner/platform/local/v2vm_test.go)
// and its VM's init (internal/v2vminit) agree on: the init's
// configuration and the console lines by which the init tells the host
// that it started and how the run ended.
package v2vm

// StartedLine is the first line the init prints, which tells the host
// that the kernel booted.
const StartedLine = "faaslab-v2vm: init started"

// ExitMarker starts the init's last line, which tells the host how the
// run ended: "<ExitMarker> <status>".
const ExitMarker = "faaslab-v2vm: exit status"

// ConfigPath is where the init reads its Config, as JSON, in the
// initramfs.
const ConfigPath = "/v2vm.json"

// Config is the init's configuration, written by the test.
type Config struct {
	// Modules are the kernel modules' files in /modules, in load order:
	// each after those it depends on.
	Modules []string
	// Shares are the host's directories that the VM's root holds, each
	// exported read-only through 9p and mounted at its own path; nothing
	// else of the host's file system is in the VM.
	Shares []Share
	// Symlinks are the root's links, as the host's /bin is to usr/bin
	// on a merged-/usr system.
	Symlinks []Symlink
	// Unreachable are paths on the host, its /proc's among them, that
	// must not be reachable in the VM: the init checks that the root it
	// built holds none of them before it mounts the VM's own /proc and
	// /sys over theirs.
	Unreachable []string
	// Scratch is the block device of the scratch disk (ext4).
	Scratch string
	// Dir is the working directory of the tests, on the host's file
	// system.
	Dir string
	// Args run the tests; Args[0] is /local.test, the test binary in
	// the initramfs, which init copies to the scratch disk.
	Args []string
	// Env is the tests' whole environment.
	Env []string
	// Cgroup is the group, beneath the hierarchy's root, that the tests
	// run in, as a systemd host's session scope.
	Cgroup string
}

// Share is a host's directory exported to the VM through 9p.
type Share struct {
	// Tag is its 9p mount tag; Path is where it is on the host and in
	// the VM alike.
	Tag, Path string
}

// Symlink is a link in the VM's root: Path points to Target.
type Symlink struct {
	Path, Target string
}
