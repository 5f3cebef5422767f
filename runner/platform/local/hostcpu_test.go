package local

import (
	"testing"
	"time"
)

func TestParseHostCPU(t *testing.T) {
	stat := "cpu  100 5 40 9000 7 1 2 3 0 0\ncpu0 50 2 20 4500 3 0 1 1 0 0\nintr 1 2 3\n"
	got, err := parseHostCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	want := hostCPU{user: 100, system: 40, idle: 9000, iowait: 7, steal: 3, ok: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	later := hostCPU{user: 150, system: 41, idle: 9100, iowait: 7, steal: 5, ok: true}
	user, system, idle, iowait, steal := later.seconds(got)
	if user != 0.5 || system != 0.01 || idle != 1 || iowait != 0 || steal != 0.02 {
		t.Errorf("seconds: %v %v %v %v %v", user, system, idle, iowait, steal)
	}
	if u, _, _, _, _ := later.seconds(hostCPU{}); u != 0 {
		t.Errorf("a failed sample gives %v, want 0", u)
	}
	for _, bad := range []string{"", "intr 1 2\n", "cpu  1 2 3\n", "cpu  a b c d e f g h\n"} {
		if _, err := parseHostCPU([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if s := (&hostStat{}).sample(); !s.ok {
		t.Errorf("this host's /proc/stat: %+v", s)
	}
}

func TestParseUsageAll(t *testing.T) {
	user, system := parseUsageAll([]byte("cpu user system\n0 100 20\n1 300 40\n"))
	if user != 400*time.Nanosecond || system != 60*time.Nanosecond {
		t.Errorf("got %v %v", user, system)
	}
}
