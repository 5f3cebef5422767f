package local

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faaslab/faaslab/runner/harness"
)

// The transport between faaslab and the runtime in a sandbox.
//
// The sandbox has its own network namespace, so the Runtime API cannot be
// HTTP on the host's loopback. faaslab speaks the API's operations as
// length-prefixed JSON frames over two pipes that the sandbox inherits as
// fds 3 and 4 (see faaslab_bootstrap.py for the messages). Pipes were
// chosen over HTTP on a bind-mounted Unix socket because they are simpler
// and faster: nothing to name, bind-mount or clean up, no HTTP parsing on
// either side, no listener to accept strangers, and end of file on the
// runtime's pipe says at once that every process that could answer is
// gone. Each operation keeps the Runtime API's meaning: next, response,
// error and init error, with request ids and deadlines.

// maxFrame bounds a frame from the runtime: a record with the largest
// result Lambda allows, error texts and metrics.
const maxFrame = harness.MaxResponseBytes + 2<<20

// errFrameTooLarge marks a frame longer than maxFrame.
var errFrameTooLarge = errors.New("frame too large")

// writeFrame writes payload as one frame.
func writeFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// pipeMinCapacity is what a pipe holds at least: one page, when its user
// has more pipe buffers than fs.pipe-user-pages-soft allows.
const pipeMinCapacity = 4096

// appendRequestFrame appends the frame of an invocationRequest to buf. It
// writes the JSON itself, which spares encoding/json's reflection and its
// second pass over the event: event is valid JSON (Invoke checks it) and
// requestID (newRequestID's hex and dashes) needs no escaping.
func appendRequestFrame(buf []byte, requestID string, deadline time.Time, arn string, event []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = append(buf, `{"request_id":"`...)
	buf = append(buf, requestID...)
	buf = append(buf, `","deadline_ms":`...)
	buf = strconv.AppendInt(buf, deadline.UnixMilli(), 10)
	buf = append(buf, `,"function_arn":`...)
	arnJSON, _ := json.Marshal(arn) // a string always encodes
	buf = append(buf, arnJSON...)
	buf = append(buf, `,"event":`...)
	buf = append(buf, event...)
	buf = append(buf, '}')
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf
}

// readFrame reads one frame of at most maxFrame bytes.
func readFrame(r io.Reader) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(header[:])
	if n > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return payload, nil
}

// runtimeMessage is a frame from the runtime.
type runtimeMessage struct {
	Op        string          `json:"op"`
	RequestID string          `json:"request_id"`
	Body      json.RawMessage `json:"body"`
}

// Runtime operations.
const (
	opNext      = "next"
	opResponse  = "response"
	opError     = "error"
	opInitError = "init_error"
)

// invocationRequest is the frame that answers the runtime's next.
type invocationRequest struct {
	RequestID   string          `json:"request_id"`
	DeadlineMS  int64           `json:"deadline_ms"`
	FunctionARN string          `json:"function_arn"`
	Event       json.RawMessage `json:"event"`
}

// received is a decoded frame, or the error that ended the stream.
type received struct {
	msg runtimeMessage
	err error
}

// readMessages decodes frames from r into out until r fails or done is
// closed, and then closes out. A frame that does not decode ends the
// stream: after it the stream cannot be trusted.
func readMessages(r io.Reader, out chan<- received, done <-chan struct{}) {
	defer close(out)
	// The runtime writes an answer and its next request at once: one
	// read takes both frames.
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		var rec received
		payload, err := readFrame(br)
		if err == nil {
			if err = json.Unmarshal(payload, &rec.msg); err != nil {
				err = fmt.Errorf("decode frame: %w", err)
			}
		}
		rec.err = err
		select {
		case out <- rec:
		case <-done:
			return
		}
		if err != nil {
			return
		}
		if br.Buffered() > 0 {
			// The next frame came with this one: let the receiver, which
			// this send made ready, run first, rather than after the
			// frame is decoded and the pipe read again.
			runtime.Gosched()
		}
	}
}

// logSink drains a container's stdout and stderr, keeping at most limit
// bytes per invocation and discarding the rest, so that a chatty function
// never blocks on a full pipe nor fills the runner's memory.
//
// Reads happen under mu, inside the callback that reads the pipe, so that
// take can empty the pipe itself and know that everything written before
// the call is in the buffer: the runtime flushes its output before it
// posts a response.
type logSink struct {
	file *os.File
	conn syscall.RawConn
	done chan struct{} // closed when the pipe reaches end of file

	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped int64
	chunk   []byte
}

func newLogSink(f *os.File, limit int) (*logSink, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("log pipe: %w", err)
	}
	l := &logSink{file: f, conn: conn, done: make(chan struct{}), limit: limit, chunk: make([]byte, 64*1024)}
	go l.run()
	return l, nil
}

func (l *logSink) run() {
	defer close(l.done)
	for {
		var eof bool
		err := l.conn.Read(func(fd uintptr) bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			eof = l.drainLocked(fd)
			return eof
		})
		if err != nil || eof {
			return
		}
	}
}

// drainLocked reads fd until it would block; it reports whether fd is at
// end of file (or broken).
func (l *logSink) drainLocked(fd uintptr) (eof bool) {
	for {
		n, err := syscall.Read(int(fd), l.chunk)
		switch {
		case n > 0:
			keep := min(n, l.limit-len(l.buf))
			l.buf = append(l.buf, l.chunk[:keep]...)
			l.dropped += int64(n - keep)
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false
		default:
			return true
		}
	}
}

// take returns what the container wrote since the last take, up to the
// limit, with a note of how much was dropped.
func (l *logSink) take() string {
	l.conn.Control(func(fd uintptr) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.drainLocked(fd)
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.ToValidUTF8(string(l.buf), "\uFFFD")
	if l.dropped > 0 {
		s += fmt.Sprintf("\n[faaslab: log truncated, %d bytes dropped]\n", l.dropped)
	}
	l.buf, l.dropped = l.buf[:0], 0
	return s
}
