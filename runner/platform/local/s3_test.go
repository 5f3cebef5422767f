package local

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestS3Isolation checks that a function with object storage reaches it
// and nothing else: not a listener on the host's loopback, not another
// name than S3's; its namespace still has only lo.
func TestS3Isolation(t *testing.T) {
	p := newPlatform(t, Options{InitTimeout: platformtest.S3InitTimeout})
	ctx := context.Background()
	st := objstore.New()
	if err := st.Put(ctx, "pipe", "in/x", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	d := deployDir(t, p, "s3_network", func(fn *platform.Function) {
		fn.S3 = st.Handler(objstore.Scope{Bucket: "pipe", Read: []string{"in/"}, Write: []string{"out/"}})
		fn.MemoryMB = 1769
	})
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	tcp4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listeners = append(listeners, tcp4)
	tcp6Port := 0
	if tcp6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		listeners = append(listeners, tcp6)
		tcp6Port = tcp6.Addr().(*net.TCPAddr).Port
	}
	event, _ := json.Marshal(map[string]any{"tcp4_port": tcp4.Addr().(*net.TCPAddr).Port, "tcp6_port": tcp6Port})
	inv := want(t, d, string(event), platform.StatusOK, "", "")
	var got struct {
		Attempts   map[string]string
		Interfaces []string
		S3Name     []string `json:"s3_name"`
		OtherName  any      `json:"other_name"`
		Localhost  any
	}
	platformtest.Result(t, inv, &got)
	if data, _, err := st.Get(ctx, "pipe", "out/x"); err != nil || string(data) != "cba" {
		t.Errorf("the function's output %q, %v; want cba", data, err)
	}
	for what, result := range got.Attempts {
		if !strings.HasPrefix(result, "failed") {
			t.Errorf("%s: %s, want failure", what, result)
		}
	}
	if len(got.Interfaces) != 1 || got.Interfaces[0] != "lo" {
		t.Errorf("network interfaces %v, want only lo", got.Interfaces)
	}
	if len(got.S3Name) != 1 || got.S3Name[0] != "127.0.0.1" {
		t.Errorf("S3's name resolved to %v, want 127.0.0.1", got.S3Name)
	}
	if s, ok := got.OtherName.(string); !ok || !strings.HasPrefix(s, "failed") {
		t.Errorf("another name resolved to %v, want failure", got.OtherName)
	}
	// /etc/hosts still answers first, as without the S3 resolver.
	if addrs, ok := got.Localhost.([]any); !ok || !slices.Contains(addrs, any("127.0.0.1")) {
		t.Errorf("localhost resolved to %v, want 127.0.0.1 among its addresses", got.Localhost)
	}
	for _, l := range listeners {
		l.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(100 * time.Millisecond))
		if conn, err := l.Accept(); err == nil {
			conn.Close()
			t.Errorf("the host listener %s got a connection from the sandbox", l.Addr())
		}
	}
}

// TestS3EndpointLifetime checks that each container has an endpoint of
// its own, in a namespace of its own, gone with the container.
func TestS3EndpointLifetime(t *testing.T) {
	p := newPlatform(t, Options{})
	st := objstore.New()
	d := deployDir(t, p, "echo", func(fn *platform.Function) {
		fn.S3 = st.Handler(objstore.Scope{Bucket: "pipe"})
		fn.Cold = true
	})
	dep := d.(*deployment)
	var endpoints []*s3Endpoint
	for range 2 {
		dep.mu.Lock()
		c, err := dep.startContainer()
		dep.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if c.s3 == nil {
			t.Fatal("container of a function with S3 has no endpoint")
		}
		ino, err := netnsInode("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/ns/net")
		self := runnerNetns(t)
		if err != nil || ino == self {
			t.Errorf("bubblewrap runs in the host's network namespace (%v)", err)
		}
		endpoints = append(endpoints, c.s3)
		if err := c.destroy(); err != nil {
			t.Fatal(err)
		}
	}
	// The threads that made the namespaces went back to the runner's.
	self := runnerNetns(t)
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, task := range tasks {
		if ino, err := netnsInode(task); err == nil && ino != self {
			t.Errorf("runner thread %s is in another network namespace", task)
		}
	}
	if endpoints[0] == endpoints[1] {
		t.Errorf("two containers share an endpoint")
	}
	for _, e := range endpoints {
		// Closed: the server refuses to serve again.
		if err := e.server.ListenAndServe(); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("endpoint still serving after its container: %v", err)
		}
		if e.netns != nil {
			t.Errorf("namespace handle still open")
		}
	}
}

// runnerNetns returns the inode of the runner's network namespace, as one
// of its threads sees it: no thread of the runner stays in a sandbox's.
func runnerNetns(t *testing.T) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ino, err := netnsInode("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return ino
}
