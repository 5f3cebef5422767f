package local

import (
	"os"
	"os/user"
	"path/filepath"
)

// Without root, the local platform runs rootless, as rootless container
// engines do:
//
//   - bubblewrap runs as faaslab's own user and makes the sandbox's user
//     namespace itself, which needs unprivileged user namespaces (Debian,
//     Fedora and Arch allow them; some distributions restrict them by
//     sysctl or AppArmor). Inside, the function runs as Options.UID
//     (nobody), as it does under root, and holds no capabilities; on the
//     host its processes are faaslab's user's, not nobody's, so a function
//     that escaped the sandbox would act as that user.
//   - The cgroups are the ones delegated to the user: on cgroup v2 a
//     systemd scope with Delegate=yes (cgroup_v2.go); on cgroup v1, a
//     parent group in every hierarchy that root made and handed over with
//     chown, in which faaslab itself runs (cgroupV1.prepare).
//   - /tmp is a tmpfs of the function's ephemeral size, mounted by
//     bubblewrap, because a loop-mounted ext4 file system needs root.
//     Unlike the disk-backed /tmp under root, what a function keeps there
//     counts against its memory, as in faaslab before ephemeral storage
//     was modelled: a function that fills /tmp beyond its free memory is
//     killed for memory rather than told "No space left on device".
//   - The work directory defaults to ~/.local/state/faaslab/local.

// rootlessNote is logged by New without root.
const rootlessNote = "local platform runs rootless (faaslab is not root): functions run in user namespaces " +
	"as your user on the host, and /tmp is a tmpfs of ephemeral_mb that counts against the function's memory " +
	"(under root it is a disk of its own); see README, \"Running without root\""

// rootlessProbeHint explains the usual reason for a failed probe without
// root.
const rootlessProbeHint = "without root, bubblewrap needs unprivileged user namespaces: check that " +
	"`bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin true` works as your user " +
	"(sysctls user.max_user_namespaces and, on Debian-based kernels, kernel.unprivileged_userns_clone; " +
	"on Ubuntu 24.04 and later, AppArmor's kernel.apparmor_restrict_unprivileged_userns)"

// defaultWorkDir is Options.WorkDir's default: DefaultWorkDir for root,
// and a directory in the user's home otherwise, which, unlike /tmp, no
// other user can create first.
func defaultWorkDir() string {
	if os.Geteuid() == 0 {
		return DefaultWorkDir
	}
	u, err := user.Current()
	if err != nil || u.HomeDir == "" || u.HomeDir == "/" {
		return DefaultWorkDir // makeWorkDir then says why it cannot be used
	}
	return filepath.Join(u.HomeDir, ".local", "state", "faaslab", "local")
}

// sandboxHostIDs returns the uid and gid that a sandbox's processes have
// on the host: Options.UID and GID under root, faaslab's own without.
func (p *Platform) sandboxHostIDs() (uid, gid int) {
	if p.rootless {
		return os.Geteuid(), os.Getegid()
	}
	return p.opts.UID, p.opts.GID
}
