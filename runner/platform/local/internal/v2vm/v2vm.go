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
	// HostTag is the 9p mount tag of the host's root file system.
	HostTag string
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
