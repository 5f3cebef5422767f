package local

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faaslab/faaslab/runner/platform/local/internal/loopback"
)

// Object storage in the sandbox.
//
// A function with platform.Function.S3 reaches it on the loopback of its
// own network namespace and nowhere else: at AWS_ENDPOINT_URL_S3 (plain
// HTTP, for SDKs that read it) and at S3's own names over HTTPS (for SDKs
// that predate it; see s3names.go). faaslab makes that namespace itself
// before the sandbox starts (newSandboxNet): a locked thread unshares a
// new namespace, brings its loopback up, opens the listening sockets on
// its 127.0.0.1 and returns to the runner's namespace. A socket stays in
// the namespace it was made in, whichever thread then uses it, so the
// runner serves the handler on them from its own goroutines. The fork
// thread forks bubblewrap inside that namespace and bubblewrap keeps it
// (--share-net) instead of making its own: the endpoint is there before
// the runtime starts, so even the function's init can use it, and the
// host's loopback stays out of reach, as with any other sandbox. Each
// container gets a new namespace and endpoint; both go with the
// container.

// The credentials the sandbox's SDKs sign with. They are not credentials
// of anything: the endpoint accepts any signature. SDKs need some to sign.
const (
	s3AccessKeyID     = "faaslab-local"
	s3SecretAccessKey = "faaslab-local"
)

// s3Endpoint serves a function's object storage inside its network
// namespace.
type s3Endpoint struct {
	netns  *os.File // the namespace, until the sandbox holds it
	addr   string   // host:port of the plain HTTP endpoint inside it
	server *http.Server
	dns    net.PacketConn
	served sync.WaitGroup // the servers' goroutines
	once   sync.Once
}

// newS3Endpoint makes a network namespace and serves h on its loopback,
// with names' certificates for HTTPS; dir is where names keeps its files.
func newS3Endpoint(h http.Handler, names *s3Names, dir string) (*s3Endpoint, error) {
	if _, err := names.prepare(dir); err != nil {
		return nil, err
	}
	netns, socks, err := newSandboxNet()
	if err != nil {
		return nil, err
	}
	e := &s3Endpoint{
		netns: netns,
		addr:  socks.http.Addr().String(),
		server: &http.Server{
			Handler:           hostAddressed(h),
			ReadHeaderTimeout: time.Minute,
			// Nothing below the command layer writes to stderr.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		dns: socks.dns,
	}
	e.served.Add(3)
	go func() {
		defer e.served.Done()
		e.server.Serve(socks.http)
	}()
	go func() {
		defer e.served.Done()
		e.server.Serve(tls.NewListener(socks.https, names.tlsConfig()))
	}()
	go func() {
		defer e.served.Done()
		serveDNS(socks.dns)
	}()
	return e, nil
}

// namespace is the namespace to start the sandbox in: nil without an
// endpoint.
func (e *s3Endpoint) namespace() *os.File {
	if e == nil {
		return nil
	}
	return e.netns
}

// releaseNamespace closes faaslab's handle of the namespace once the
// sandbox is in it; the listener and the sandbox's processes keep it.
func (e *s3Endpoint) releaseNamespace() {
	if e != nil && e.netns != nil {
		e.netns.Close()
		e.netns = nil
	}
}

// environment returns env with the variables that point the SDKs in the
// sandbox at the endpoint, replacing any of the same name.
func (e *s3Endpoint) environment(env []string) []string {
	set := map[string]string{
		"AWS_ENDPOINT_URL_S3":   "http://" + e.addr,
		"AWS_ACCESS_KEY_ID":     s3AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": s3SecretAccessKey,
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); set[k] == "" {
			out = append(out, kv)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_S3", "AWS_SECRET_ACCESS_KEY"} {
		out = append(out, k+"="+set[k])
	}
	return out
}

// close stops serving, closing the listener and every connection, and
// waits for the server to stop. It is idempotent.
func (e *s3Endpoint) close() {
	e.once.Do(func() {
		e.releaseNamespace()
		e.server.Close()
		e.dns.Close()
		e.served.Wait()
	})
}

// sandboxSockets are the sockets of the endpoint in the sandbox's
// namespace.
type sandboxSockets struct {
	http, https net.Listener // on 127.0.0.1, a free port and 443
	dns         net.PacketConn
}

func (s sandboxSockets) close() {
	for _, c := range []io.Closer{s.http, s.https, s.dns} {
		if c != nil {
			c.Close()
		}
	}
}

// newSandboxNet makes a network namespace whose only interface is its
// loopback, up, and returns a handle of it and the endpoint's sockets on
// its 127.0.0.1.
func newSandboxNet() (*os.File, sandboxSockets, error) {
	type made struct {
		netns *os.File
		socks sandboxSockets
		err   error
	}
	ch := make(chan made, 1)
	go func() {
		// The thread goes into the new namespace and back. Only if it
		// cannot come back does it stay locked, and the Go runtime ends
		// it when this goroutine returns (or, for the main thread, parks
		// it for good): no other goroutine ever runs in the sandbox's
		// namespace.
		runtime.LockOSThread()
		var m made
		var back bool
		m.netns, m.socks, back, m.err = enterNewNet()
		if back {
			runtime.UnlockOSThread()
		}
		ch <- m
	}()
	m := <-ch
	if m.err != nil {
		if m.netns != nil {
			m.netns.Close()
		}
		m.socks.close()
		return nil, sandboxSockets{}, fmt.Errorf("sandbox network: %w", m.err)
	}
	return m.netns, m.socks, nil
}

// enterNewNet moves the calling thread, locked, into a new network
// namespace, prepares it and moves the thread back; back says whether it
// is back.
func enterNewNet() (netns *os.File, socks sandboxSockets, back bool, err error) {
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, socks, true, err
	}
	defer host.Close()
	hostIno, err := netnsInode("/proc/thread-self/ns/net")
	if err != nil {
		return nil, socks, true, err
	}
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, socks, true, fmt.Errorf("unshare: %w", err)
	}
	defer func() {
		if serr := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); serr != nil {
			err = errors.Join(err, fmt.Errorf("return to the runner's network namespace: %w", serr))
			return
		}
		back = true
	}()
	netns, socks, err = prepareNet(hostIno)
	return netns, socks, back, err
}

// prepareNet brings up the loopback of the calling thread's new network
// namespace and opens the endpoint's sockets in it.
func prepareNet(hostIno uint64) (netns *os.File, socks sandboxSockets, err error) {
	// The sockets must never be on the host's loopback.
	if ino, err := netnsInode("/proc/thread-self/ns/net"); err != nil || ino == hostIno {
		return nil, socks, errors.Join(errors.New("thread did not enter a new network namespace"), err)
	}
	if err := loopback.Up(); err != nil {
		return nil, socks, err
	}
	defer func() {
		if err != nil {
			socks.close()
		}
	}()
	if socks.http, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		return nil, socks, fmt.Errorf("listen: %w", err)
	}
	if socks.https, err = net.Listen("tcp4", "127.0.0.1:443"); err != nil {
		return nil, socks, fmt.Errorf("listen: %w", err)
	}
	if socks.dns, err = net.ListenPacket("udp4", "127.0.0.1:53"); err != nil {
		return nil, socks, fmt.Errorf("listen: %w", err)
	}
	if netns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
		return nil, socks, err
	}
	return netns, socks, nil
}

func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// forkInNetns runs req.fork inside req.netns and returns the thread to
// its own namespace.
func (st *forkThreadState) forkInNetns(req forkRequest) error {
	if st.hostNet == nil {
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return fmt.Errorf("fork thread network namespace: %w", err)
		}
		st.hostNet = f
	}
	if err := unix.Setns(int(req.netns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter sandbox network namespace: %w", err)
	}
	err := req.fork(st)
	if berr := unix.Setns(int(st.hostNet.Fd()), unix.CLONE_NEWNET); berr != nil {
		// Harmless to later forks, which enter a namespace of their own
		// or have bubblewrap make one, but this one must not go on.
		err = errors.Join(err, fmt.Errorf("return fork thread to its network namespace: %w", berr))
	}
	return err
}
