package local

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A runner that dies without closing its deployments (SIGKILL, a crash)
// leaves their containers behind, and --die-with-parent does not end a
// frozen container: its processes stay frozen with the kill pending. So
// every container cgroup and deployment directory is named after its
// runner process (its pid and start time, which together never repeat),
// and New reaps what dead runners left.

// owner names the running process: "<pid>.<start time in clock ticks>".
func owner() (string, error) {
	start, err := startTime(os.Getpid())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d", os.Getpid(), start), nil
}

// startTime returns when process pid started, in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces; fields count from
	// the last ')'. starttime is field 22 of the whole line.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

var ownerPattern = regexp.MustCompile(`^(\d+)\.(\d+)(-|$)`)

// ownerDead reports whether name starts with an owner that is no longer
// running.
func ownerDead(name string) bool {
	m := ownerPattern.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	pid, _ := strconv.Atoi(m[1])
	start, err := startTime(pid)
	return err != nil || strconv.FormatUint(start, 10) != m[2]
}

// reapStale kills and removes the container cgroups and deletes the
// deployment directories of dead runners, with their containers' /tmp. It does its best and reports
// nothing: what it cannot remove now, a later New tries again.
func (p *Platform) reapStale() {
	reapStaleGroups(p.cgroups.driver)
	dirs, _ := os.ReadDir(filepath.Dir(p.deployDir))
	for _, d := range dirs {
		if d.IsDir() && ownerDead(d.Name()) {
			// Unmount its containers' /tmp first, lest RemoveAll descend
			// into them (see ephemeral.go).
			reapTmpStores(filepath.Join(filepath.Dir(p.deployDir), d.Name()))
			os.RemoveAll(filepath.Join(filepath.Dir(p.deployDir), d.Name()))
		}
	}
}

// reapStaleGroups kills the processes of, and removes, the groups under
// the driver's parent whose runners are dead, and returns their names.
func reapStaleGroups(driver cgroupDriver) []string {
	names, _ := driver.children()
	var reaped []string
	for _, name := range names {
		if !ownerDead(name) {
			continue
		}
		cg := &cgroup{group: driver.open(name)}
		if cg.kill(time.Second, 0) == nil && cg.remove() == nil {
			reaped = append(reaped, name)
		}
	}
	return reaped
}
