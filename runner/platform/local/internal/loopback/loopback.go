// Package loopback brings up a network namespace's loopback interface,
// which a new namespace starts with down: the local platform does it in
// the namespaces it makes for its S3 endpoint, and TestCgroupV2VM's init
// in its VM, where tests listen on loopback.
package loopback

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Up brings up lo in the calling thread's network namespace, as
// bubblewrap does in the namespaces it makes.
func Up() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}
