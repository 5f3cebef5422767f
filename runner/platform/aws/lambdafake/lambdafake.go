// Package lambdafake is a test fake of AWS Lambda's REST API, with the
// parts of S3, CloudWatch Logs, STS and IAM that faaslab uses beside it:
// an HTTP server on the loopback interface that the AWS SDK reaches
// through AWS_ENDPOINT_URL. Requests go to the service their SigV4
// credential scope names (signatures are not checked).
//
// Lambda: it keeps each function's state as Lambda does (Pending, then
// Active; an update InProgress, then Successful; 409
// ResourceConflictException while either lasts), returns the log tail
// with a REPORT line in the text or the JSON log format, and keeps the
// function's resource-based policy (AddPermission, RemovePermission,
// GetPolicy) and its event invoke configuration. Invoke with
// InvocationType Event answers 202 and queues the event; each function
// has one execution environment, which runs queued events one after
// another (no concurrency is modelled) and shares itself with
// synchronous calls; failed attempts are retried after Options.RetryDelay
// and twice that, up to MaximumRetryAttempts, unless older than
// MaximumEventAgeInSeconds.
//
// S3 (path-style, as the SDK addresses an IP endpoint): buckets and
// objects are gofakes3's, in memory; the fake adds bucket tagging and
// notification configurations for Lambda destinations, which it
// validates as S3 does (the function must exist and its policy allow
// s3.amazonaws.com for the bucket). After every object creation (PUT,
// copy, multipart completion) it delivers S3's event document to each
// matching function by asynchronous invocation, at least once.
//
// CloudWatch Logs: every invocation, synchronous or not, appends its
// START, output, END and REPORT lines (or JSON records) to the
// function's log group, one stream per execution environment; the fake
// answers FilterLogEvents, DescribeLogGroups, DescribeLogStreams and
// DeleteLogGroup. IAM: roles, their managed and inline policies.
//
// It injects faults on demand: throttling with Retry-After, conflicts,
// server errors, access denied, dropped connections, function timeouts,
// and S3 event deliveries lost, duplicated or delayed.
//
// It runs the functions' code for real: each function's zip is unpacked
// and run by faaslab's fake platform (runner/platform/fake), which starts
// plain Python processes on the host with no isolation at all, with the
// fake's role credentials, region and S3 endpoint in their environment.
// Like that platform, it must only ever run the trusted fixtures of
// faaslab's own tests.
package lambdafake

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/fake"
	"github.com/faaslab/faaslab/runner/platform/report"
)

//go:embed entry.py
var entry []byte

// entryModule is the module entry.py becomes in a function's code.
const entryModule = "lambdafake_entry"

// Fake credentials for tests: any SigV4 signature is accepted.
const (
	AccessKeyID     = "AKIAFAKELAMBDAFAKE01"
	SecretAccessKey = "fakeSecretKeyOfTheLambdaFakeServer0123456"
	Account         = "123456789012"
	Region          = "us-west-2"
)

// Log formats of a function's LoggingConfig.
const (
	FormatText = "Text"
	FormatJSON = "JSON"
)

// Options adjust the fake; the zero value of each is its default.
type Options struct {
	// Python runs the functions; default python3.
	Python string
	// Latency is added to every API call before it is answered.
	Latency time.Duration
	// Activation is how long a new function stays Pending (default
	// 30 ms); Update how long an update stays InProgress (default 30 ms).
	Activation, Update time.Duration
	// LogFormat is the log format of functions whose LoggingConfig names
	// none: FormatText (default) or FormatJSON.
	LogFormat string
	// UnreservedConcurrency is the account's (default 1000).
	UnreservedConcurrency int
	// SnapStart reports cold starts with a Restore Duration instead of an
	// Init Duration, as a SnapStart function's restore does.
	SnapStart bool
	// RetryDelay is the wait before the first retry of a failed
	// asynchronous invocation; the second waits twice as long (Lambda:
	// one minute, then two). Default 50 ms.
	RetryDelay time.Duration
	// EventAgeUnit is what one second of MaximumEventAgeInSeconds lasts
	// (default a second), so that tests can age events quickly.
	EventAgeUnit time.Duration
	// InitTimeout replaces Lambda's 10 s limit on an execution
	// environment's start and init, for hosts too busy to start Python
	// (and import boto3) in time.
	InitTimeout time.Duration
	// LogDelay is how long an invocation's log events take to become
	// visible to FilterLogEvents (CloudWatch ingests them seconds late);
	// default none.
	LogDelay time.Duration
	// LogPageSize caps the events (or log groups, or streams) of one page
	// of CloudWatch Logs' answers below the service's own page sizes, so
	// that tests exercise nextToken.
	LogPageSize int
}

// Fault kinds Inject can cause.
type FaultKind string

const (
	// Throttle answers 429 TooManyRequestsException with Retry-After.
	Throttle FaultKind = "throttle"
	// Conflict answers 409 ResourceConflictException.
	Conflict FaultKind = "conflict"
	// ServerError answers 500 ServiceException.
	ServerError FaultKind = "server_error"
	// AccessDenied answers 403 AccessDeniedException (AccessDenied for
	// STS and IAM).
	AccessDenied FaultKind = "access_denied"
	// Drop closes the connection without an answer.
	Drop FaultKind = "drop"
	// FunctionTimeout makes an Invoke time out as the function would at
	// its timeout, without running it (and without waiting).
	FunctionTimeout FaultKind = "function_timeout"
	// LoseEvent, DuplicateEvent and DelayEvent act on S3's delivery of an
	// event to a function (operation "S3Event", Function the
	// destination): the event is lost, delivered twice (S3 delivers at
	// least once), or delivered after Fault.Delay.
	LoseEvent      FaultKind = "lose_event"
	DuplicateEvent FaultKind = "duplicate_event"
	DelayEvent     FaultKind = "delay_event"
)

// Fault is a failure injected into the next Times (default 1) calls of
// operation Op (e.g. "Invoke", "CreateFunction", "GetCallerIdentity",
// "PutObject", "FilterLogEvents", "S3Event"; empty: any), on function
// Function (empty: any; S3 and CloudWatch Logs calls have none).
type Fault struct {
	Op       string
	Function string
	Kind     FaultKind
	// RetryAfter is the Retry-After of a Throttle, in seconds.
	RetryAfter int
	// Delay is the delay of a DelayEvent.
	Delay time.Duration
	Times int
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	// URL is the server's address, for AWS_ENDPOINT_URL.
	URL string

	opts     Options
	platform *fake.Platform
	srv      *http.Server
	dir      string

	// ctx ends with Close: it stops asynchronous work.
	ctx    context.Context
	cancel context.CancelFunc

	s3backend gofakes3.Backend
	s3rest    http.Handler

	mu          sync.Mutex
	functions   map[string]*function
	roles       map[string]*role
	buckets     map[string]*bucketState
	logGroups   map[string]*logGroup
	logSeq      int64
	invocations []InvocationRecord
	lost        int // S3 events lost
	faults      []*Fault
	created     []map[string]string // every function's tags at creation
	calls       map[string]int
	requests    int
	closing     sync.WaitGroup
	// pending counts asynchronous work not done: queued events, waiting
	// retries and deliveries.
	pending atomic.Int64
}

// function is one function's state.
type function struct {
	config   Configuration
	tags     map[string]string
	zip      []byte
	codeDir  string
	created  time.Time
	updating time.Time // when the last update started
	// generation counts configuration changes; an environment of an
	// older generation is not reused.
	generation int

	invokeMu sync.Mutex // one execution environment serves one call at a time
	dep      platform.Deployment
	depGen   int
	stream   string // the log stream of dep's environment

	policy        []statement // the resource-based policy
	policyChanged time.Time
	eventConfig   *eventInvokeConfig
	queue         []asyncEvent // asynchronous events waiting
	draining      bool         // a goroutine runs the queue
}

type role struct {
	arn      string
	tags     map[string]string
	policies []string          // attached managed policies' ARNs
	inline   map[string]string // inline policies: name -> document
}

// Configuration is the part of Lambda's FunctionConfiguration the fake
// keeps.
type Configuration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	CodeSize         int64             `json:"CodeSize"`
	CodeSha256       string            `json:"CodeSha256"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	Version          string            `json:"Version"`
	Environment      *Environment      `json:"Environment,omitempty"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage,omitempty"`
	Layers           []Layer           `json:"Layers,omitempty"`
	PackageType      string            `json:"PackageType"`
	State            string            `json:"State"`
	StateReason      string            `json:"StateReason,omitempty"`
	StateReasonCode  string            `json:"StateReasonCode,omitempty"`
	LastUpdateStatus string            `json:"LastUpdateStatus"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig,omitempty"`
	RevisionID       string            `json:"RevisionId"`
}

// Environment, EphemeralStorage, Layer and LoggingConfig are Lambda's
// shapes.
type (
	Environment struct {
		Variables map[string]string `json:"Variables"`
	}
	EphemeralStorage struct {
		Size int `json:"Size"`
	}
	Layer struct {
		Arn      string `json:"Arn"`
		CodeSize int64  `json:"CodeSize"`
	}
	LoggingConfig struct {
		LogFormat string `json:"LogFormat,omitempty"`
		LogGroup  string `json:"LogGroup,omitempty"`
	}
)

// interpreters caches the interpreter each Python command resolves to:
// a version manager's shim (pyenv) takes a second to start, and every
// test starts a fake.
var interpreters sync.Map

// interpreter is the executable that python (default python3) runs, or
// python itself when that cannot be found out.
func interpreter(python string) string {
	if python == "" {
		python = "python3"
	}
	if exe, ok := interpreters.Load(python); ok {
		return exe.(string)
	}
	out, err := exec.Command(python, "-c", "import sys; print(sys.executable)").Output()
	exe := strings.TrimSpace(string(out))
	if err != nil || exe == "" {
		return python
	}
	interpreters.Store(python, exe)
	return exe
}

// New starts the fake on 127.0.0.1.
func New(opts Options) (*Server, error) {
	if opts.Activation == 0 {
		opts.Activation = 30 * time.Millisecond
	}
	if opts.Update == 0 {
		opts.Update = 30 * time.Millisecond
	}
	if opts.LogFormat == "" {
		opts.LogFormat = FormatText
	}
	if opts.UnreservedConcurrency == 0 {
		opts.UnreservedConcurrency = 1000
	}
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 50 * time.Millisecond
	}
	if opts.EventAgeUnit == 0 {
		opts.EventAgeUnit = time.Second
	}
	pl, err := fake.New(fake.Options{Python: interpreter(opts.Python), InitTimeout: opts.InitTimeout})
	if err != nil {
		return nil, fmt.Errorf("lambdafake: %w", err)
	}
	// The functions' code lives outside /tmp where it can: the fake
	// platform's shim maps paths under /tmp to each environment's own
	// /tmp, where a function would not find its own files.
	root := ""
	if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() && strings.HasPrefix(os.TempDir(), "/tmp") {
		root = "/var/tmp"
	}
	dir, err := os.MkdirTemp(root, "lambdafake-")
	if err != nil && root != "" {
		dir, err = os.MkdirTemp("", "lambdafake-")
	}
	if err != nil {
		return nil, fmt.Errorf("lambdafake: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambdafake: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), opts: opts, platform: pl, dir: dir,
		functions: map[string]*function{}, roles: map[string]*role{}, calls: map[string]int{},
		buckets: map[string]*bucketState{}, logGroups: map[string]*logGroup{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.s3backend, s.s3rest = newS3()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server and ends every function's environment.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.mu.Lock()
	s.cancel()
	for name, f := range s.functions {
		s.retire(f)
		delete(s.functions, name)
	}
	s.mu.Unlock()
	s.closing.Wait()
	os.RemoveAll(s.dir)
	return err
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Calls is how many calls of operation op the fake answered or failed.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Functions lists the functions that exist, sorted by name.
func (s *Server) Functions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CreatedTags returns the tags of every function created so far, deleted
// or not, in the order they were created.
func (s *Server) CreatedTags() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]string, len(s.created))
	for i, t := range s.created {
		out[i] = clone(t)
	}
	return out
}

// FunctionInfo is what the fake holds for a function, for tests.
type FunctionInfo struct {
	Config Configuration
	Tags   map[string]string
	Zip    []byte
}

// Function returns the fake's record of the function name.
func (s *Server) Function(name string) (FunctionInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.functions[name]
	if !ok {
		return FunctionInfo{}, false
	}
	return FunctionInfo{Config: s.configOf(f), Tags: clone(f.tags), Zip: f.zip}, true
}

// Roles lists the roles that exist, sorted by name.
func (s *Server) Roles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func clone(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// ServeHTTP routes a request to its operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		select {
		case <-time.After(s.opts.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if !strings.Contains(r.Header.Get("Authorization"), "Credential=") && r.URL.Query().Get("X-Amz-Credential") == "" {
		s.lambdaError(w, http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	}
	switch service(r) {
	case "s3":
		s.serveS3(w, r)
		return
	case "logs":
		s.serveLogs(w, r)
		return
	}
	if r.URL.Path == "/" && r.Method == http.MethodPost {
		s.query(w, r)
		return
	}
	segs := splitPath(r.URL)
	var op, name string
	switch {
	case len(segs) == 2 && segs[0] == "2015-03-31" && segs[1] == "functions" && r.Method == http.MethodPost:
		op = "CreateFunction"
	case len(segs) == 2 && segs[0] == "2015-03-31" && segs[1] == "functions" && r.Method == http.MethodGet:
		op = "ListFunctions"
	case len(segs) == 3 && segs[0] == "2015-03-31" && segs[1] == "functions":
		name = functionName(segs[2])
		op = map[string]string{http.MethodGet: "GetFunction", http.MethodDelete: "DeleteFunction"}[r.Method]
	case len(segs) == 4 && segs[0] == "2015-03-31" && segs[1] == "functions":
		name = functionName(segs[2])
		op = map[string]string{
			"GET configuration": "GetFunctionConfiguration", "PUT configuration": "UpdateFunctionConfiguration",
			"PUT code": "UpdateFunctionCode", "POST invocations": "Invoke",
			"POST policy": "AddPermission", "GET policy": "GetPolicy",
		}[r.Method+" "+segs[3]]
	case len(segs) == 5 && segs[0] == "2015-03-31" && segs[1] == "functions" && segs[3] == "policy" && r.Method == http.MethodDelete:
		name = functionName(segs[2])
		op = "RemovePermission"
	case len(segs) == 4 && segs[0] == "2019-09-25" && segs[1] == "functions" && segs[3] == "event-invoke-config":
		name = functionName(segs[2])
		op = map[string]string{http.MethodPut: "PutFunctionEventInvokeConfig", http.MethodPost: "UpdateFunctionEventInvokeConfig",
			http.MethodGet: "GetFunctionEventInvokeConfig", http.MethodDelete: "DeleteFunctionEventInvokeConfig"}[r.Method]
	case len(segs) == 3 && segs[0] == "2017-03-31" && segs[1] == "tags":
		name = functionName(segs[2])
		op = map[string]string{http.MethodGet: "ListTags", http.MethodPost: "TagResource"}[r.Method]
	case len(segs) == 2 && segs[0] == "2016-08-19" && segs[1] == "account-settings" && r.Method == http.MethodGet:
		op = "GetAccountSettings"
	}
	if op == "" {
		s.lambdaError(w, http.StatusNotFound, "UnknownOperationException", "lambdafake does not implement "+r.Method+" "+r.URL.Path)
		return
	}
	fault := s.take(op, name)
	if fault != nil && s.applyLambdaFault(w, fault) {
		return
	}
	switch op {
	case "CreateFunction":
		s.createFunction(w, r)
	case "ListFunctions":
		s.listFunctions(w, r)
	case "GetFunction", "GetFunctionConfiguration":
		s.getFunction(w, name, op == "GetFunction")
	case "DeleteFunction":
		s.deleteFunction(w, name)
	case "UpdateFunctionConfiguration":
		s.updateConfiguration(w, r, name)
	case "UpdateFunctionCode":
		s.updateCode(w, r, name)
	case "Invoke":
		s.invoke(w, r, name, fault)
	case "ListTags":
		s.listTags(w, name)
	case "TagResource":
		s.tagResource(w, r, name)
	case "GetAccountSettings":
		s.accountSettings(w)
	case "AddPermission":
		s.addPermission(w, r, name)
	case "RemovePermission":
		s.removePermission(w, name, segs[4])
	case "GetPolicy":
		s.getPolicy(w, name)
	case "PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig":
		s.eventInvokeConfigOp(w, r, op, name)
	}
}

// service is the service a request is signed for: the SigV4 credential
// scope's service ("s3", "logs", "lambda", "iam", "sts").
func service(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, cred, _ = strings.Cut(auth, "Credential=")
		cred, _, _ = strings.Cut(cred, ",")
	}
	parts := strings.Split(cred, "/")
	if len(parts) == 5 {
		return parts[3]
	}
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "Logs_20140328.") {
		return "logs"
	}
	return ""
}

// splitPath splits the URL's path into unescaped segments.
func splitPath(u *url.URL) []string {
	var segs []string
	for _, seg := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		v, err := url.PathUnescape(seg)
		if err != nil {
			v = seg
		}
		segs = append(segs, v)
	}
	return segs
}

// functionName is the name in a function name or ARN.
func functionName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.Index(s, ":function:"); i >= 0 {
			s = s[i+len(":function:"):]
			s, _, _ = strings.Cut(s, ":")
		}
	}
	return s
}

// take counts a call of op and returns the fault injected into it, if
// any.
func (s *Server) take(op, name string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	s.requests++
	for i, f := range s.faults {
		if (f.Op == "" || f.Op == op) && (f.Function == "" || f.Function == name) {
			if f.Kind == FunctionTimeout && op != "Invoke" {
				continue
			}
			if eventFault := f.Kind == LoseEvent || f.Kind == DuplicateEvent || f.Kind == DelayEvent; eventFault != (op == "S3Event") {
				continue
			}
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			c := *f
			return &c
		}
	}
	return nil
}

// applyLambdaFault answers with f unless f is for the invocation itself,
// and reports whether it answered.
func (s *Server) applyLambdaFault(w http.ResponseWriter, f *Fault) bool {
	switch f.Kind {
	case Throttle:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		s.lambdaErrorBody(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.",
			map[string]any{"Reason": "CallerRateLimitExceeded", "retryAfterSeconds": strconv.Itoa(f.RetryAfter)})
	case Conflict:
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. An update is in progress for resource (injected).")
	case ServerError:
		s.lambdaError(w, http.StatusInternalServerError, "ServiceException", "The service encountered an internal error (injected).")
	case AccessDenied:
		s.lambdaError(w, http.StatusForbidden, "AccessDeniedException",
			"User: arn:aws:iam::"+Account+":user/fake is not authorized to perform this action (injected)")
	case Drop:
		drop(w)
	default:
		return false
	}
	return true
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	s.lambdaErrorBody(w, status, typ, msg, nil)
}

func (s *Server) lambdaErrorBody(w http.ResponseWriter, status int, typ, msg string, extra map[string]any) {
	body := map[string]any{"__type": typ, "message": msg, "Type": "User"}
	if status >= 500 {
		body["Type"] = "Service"
	}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("X-Amzn-ErrorType", typ)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(status)
	w.Write(b)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// createInput is CreateFunction's request.
type createInput struct {
	FunctionName string `json:"FunctionName"`
	Runtime      string `json:"Runtime"`
	Role         string `json:"Role"`
	Handler      string `json:"Handler"`
	Code         struct {
		ZipFile []byte `json:"ZipFile"`
	} `json:"Code"`
	Description      string            `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Environment      *Environment      `json:"Environment"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	Layers           []string          `json:"Layers"`
	Tags             map[string]string `json:"Tags"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig"`
	PackageType      string            `json:"PackageType"`
}

var roleRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request) {
	var in createInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		return
	}
	c := Configuration{FunctionName: in.FunctionName, Runtime: in.Runtime, Role: in.Role, Handler: in.Handler,
		Description: in.Description, Timeout: 3, MemorySize: 128, Version: "$LATEST", Architectures: in.Architectures,
		EphemeralStorage: &EphemeralStorage{Size: 512}, PackageType: "Zip", Environment: in.Environment,
		LoggingConfig: &LoggingConfig{LogFormat: s.opts.LogFormat, LogGroup: "/aws/lambda/" + in.FunctionName}}
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		c.EphemeralStorage = in.EphemeralStorage
	}
	if len(c.Architectures) == 0 {
		c.Architectures = []string{"x86_64"}
	}
	if in.LoggingConfig != nil && in.LoggingConfig.LogFormat != "" {
		c.LoggingConfig.LogFormat = in.LoggingConfig.LogFormat
	}
	for _, l := range in.Layers {
		c.Layers = append(c.Layers, Layer{Arn: l, CodeSize: 1024})
	}
	if msg := validate(c); msg != "" {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", msg)
		return
	}
	if !roleRE.MatchString(in.Role) {
		s.lambdaError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value '"+in.Role+"' at 'role' failed to satisfy constraint")
		return
	}
	if len(in.Code.ZipFile) == 0 {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "Please provide a source for function code.")
		return
	}
	s.mu.Lock()
	_, exists := s.functions[in.FunctionName]
	s.mu.Unlock()
	if exists {
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException", "Function already exist: "+in.FunctionName)
		return
	}
	f := &function{config: c, tags: in.Tags, created: time.Now()}
	if f.tags == nil {
		f.tags = map[string]string{}
	}
	if err := s.unpack(f, in.Code.ZipFile); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "Could not unzip uploaded file. "+err.Error())
		return
	}
	f.config.FunctionArn = "arn:aws:lambda:" + Region + ":" + Account + ":function:" + in.FunctionName
	s.mu.Lock()
	if _, exists := s.functions[in.FunctionName]; exists {
		s.mu.Unlock()
		os.RemoveAll(f.codeDir)
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException", "Function already exist: "+in.FunctionName)
		return
	}
	s.functions[in.FunctionName] = f
	s.created = append(s.created, clone(f.tags))
	cfg := s.configOf(f)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, cfg)
}

// validate checks a configuration against Lambda's limits.
func validate(c Configuration) string {
	switch {
	case !nameRE.MatchString(c.FunctionName):
		return "1 validation error detected: Value '" + c.FunctionName + "' at 'functionName' failed to satisfy constraint"
	case c.Runtime == "" || c.Handler == "":
		return "Runtime and Handler are mandatory parameters for functions created with deployment packages."
	case c.MemorySize < 128 || c.MemorySize > 10240:
		return fmt.Sprintf("'MemorySize' value failed to satisfy constraint: Member must have value between 128 and 10240 (got %d)", c.MemorySize)
	case c.Timeout < 1 || c.Timeout > 900:
		return fmt.Sprintf("'Timeout' value failed to satisfy constraint: Member must have value between 1 and 900 (got %d)", c.Timeout)
	case len(c.Architectures) != 1 || c.Architectures[0] != "x86_64" && c.Architectures[0] != "arm64":
		return fmt.Sprintf("Architectures %v: want one of x86_64 or arm64", c.Architectures)
	case c.EphemeralStorage.Size < 512 || c.EphemeralStorage.Size > 10240:
		return fmt.Sprintf("EphemeralStorage size %d outside 512-10240", c.EphemeralStorage.Size)
	case c.LoggingConfig != nil && c.LoggingConfig.LogFormat != FormatText && c.LoggingConfig.LogFormat != FormatJSON:
		return "LogFormat must be Text or JSON"
	}
	return ""
}

// unpack unzips code into a directory of f's own, with the entry module.
func (s *Server) unpack(f *function, code []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(code), int64(len(code)))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(s.dir, "code-")
	if err != nil {
		return err
	}
	for _, zf := range zr.File {
		name := path.Clean(zf.Name)
		if strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
			os.RemoveAll(dir)
			return fmt.Errorf("entry %q escapes the code directory", zf.Name)
		}
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		to := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			os.RemoveAll(dir)
			return err
		}
		rc, err := zf.Open()
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err == nil {
			err = os.WriteFile(to, data, 0o644)
		}
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, entryModule+".py"), entry, 0o644); err != nil {
		os.RemoveAll(dir)
		return err
	}
	sum := sha256.Sum256(code)
	old := f.codeDir
	f.zip, f.codeDir = code, dir
	f.config.CodeSize = int64(len(code))
	f.config.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// configOf is f's configuration with its state now. s.mu is held.
func (s *Server) configOf(f *function) Configuration {
	c := f.config
	now := time.Now()
	c.State, c.LastUpdateStatus = "Active", "Successful"
	c.StateReason, c.StateReasonCode = "", ""
	if now.Before(f.created.Add(s.opts.Activation)) {
		c.State, c.StateReason, c.StateReasonCode = "Pending", "The function is being created.", "Creating"
		c.LastUpdateStatus = "InProgress"
	} else if !f.updating.IsZero() && now.Before(f.updating.Add(s.opts.Update)) {
		c.LastUpdateStatus = "InProgress"
	}
	last := f.created
	if f.updating.After(last) {
		last = f.updating
	}
	c.LastModified = last.UTC().Format("2006-01-02T15:04:05.000+0000")
	c.RevisionID = fmt.Sprintf("%x-%d", last.UnixNano(), f.generation)
	if c.Environment != nil {
		c.Environment = &Environment{Variables: clone(c.Environment.Variables)}
	}
	return c
}

// lookup returns the function name, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, name string) *function {
	s.mu.Lock()
	f := s.functions[name]
	s.mu.Unlock()
	if f == nil {
		s.lambdaError(w, http.StatusNotFound, "ResourceNotFoundException",
			"Function not found: arn:aws:lambda:"+Region+":"+Account+":function:"+name)
	}
	return f
}

func (s *Server) getFunction(w http.ResponseWriter, name string, whole bool) {
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	cfg := s.configOf(f)
	tags := clone(f.tags)
	s.mu.Unlock()
	if !whole {
		writeJSON(w, http.StatusOK, cfg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"Configuration": cfg,
		"Code":          map[string]string{"RepositoryType": "S3", "Location": s.URL + "/code/" + name},
		"Tags":          tags,
	})
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	max := 50
	if v, err := strconv.Atoi(r.URL.Query().Get("MaxItems")); err == nil && v > 0 && v < max {
		max = v
	}
	marker := r.URL.Query().Get("Marker")
	s.mu.Lock()
	var names []string
	for n := range s.functions {
		if n > marker {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := map[string]any{}
	var cfgs []Configuration
	for i, n := range names {
		if i == max {
			out["NextMarker"] = names[i-1]
			break
		}
		cfgs = append(cfgs, s.configOf(s.functions[n]))
	}
	s.mu.Unlock()
	if cfgs == nil {
		cfgs = []Configuration{}
	}
	out["Functions"] = cfgs
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteFunction(w http.ResponseWriter, name string) {
	s.mu.Lock()
	f := s.functions[name]
	if f != nil {
		delete(s.functions, name)
		s.retire(f)
	}
	s.mu.Unlock()
	if f == nil {
		s.lambdaError(w, http.StatusNotFound, "ResourceNotFoundException",
			"Function not found: arn:aws:lambda:"+Region+":"+Account+":function:"+name)
		return
	}
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusNoContent)
}

// retire ends f's environment and removes its code, in the background
// (an invocation may still be running). s.mu is held.
func (s *Server) retire(f *function) {
	s.closing.Add(1)
	go func() {
		defer s.closing.Done()
		f.invokeMu.Lock()
		defer f.invokeMu.Unlock()
		if f.dep != nil {
			f.dep.Close(context.Background())
			f.dep = nil
		}
		os.RemoveAll(f.codeDir)
	}()
}

// busy answers 409 when f is pending or being updated, and reports
// whether it did. s.mu is held.
func (s *Server) busy(w http.ResponseWriter, f *function) bool {
	c := s.configOf(f)
	switch {
	case c.State == "Pending":
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. The function is currently in the following state: Pending")
	case c.LastUpdateStatus == "InProgress":
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. An update is in progress for resource: "+c.FunctionArn)
	default:
		return false
	}
	return true
}

// updateInput is UpdateFunctionConfiguration's request.
type updateInput struct {
	Runtime          *string           `json:"Runtime"`
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Description      *string           `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Environment      *Environment      `json:"Environment"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	Layers           []string          `json:"Layers"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig"`
}

func (s *Server) updateConfiguration(w http.ResponseWriter, r *http.Request, name string) {
	var in updateInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		return
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy(w, f) {
		return
	}
	c := f.config
	set := func(to *string, v *string) {
		if v != nil {
			*to = *v
		}
	}
	set(&c.Runtime, in.Runtime)
	set(&c.Role, in.Role)
	set(&c.Handler, in.Handler)
	set(&c.Description, in.Description)
	if in.Timeout != nil {
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		c.MemorySize = *in.MemorySize
	}
	if in.Environment != nil {
		c.Environment = &Environment{Variables: clone(in.Environment.Variables)}
	}
	if in.EphemeralStorage != nil {
		c.EphemeralStorage = in.EphemeralStorage
	}
	if in.Layers != nil {
		c.Layers = nil
		for _, l := range in.Layers {
			c.Layers = append(c.Layers, Layer{Arn: l, CodeSize: 1024})
		}
	}
	if in.LoggingConfig != nil && in.LoggingConfig.LogFormat != "" {
		c.LoggingConfig = &LoggingConfig{LogFormat: in.LoggingConfig.LogFormat, LogGroup: c.LoggingConfig.LogGroup}
	}
	if msg := validate(c); msg != "" {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", msg)
		return
	}
	f.config = c
	f.updating = time.Now()
	f.generation++
	writeJSON(w, http.StatusOK, s.configOf(f))
}

func (s *Server) updateCode(w http.ResponseWriter, r *http.Request, name string) {
	var in struct {
		ZipFile []byte `json:"ZipFile"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		return
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	if s.busy(w, f) {
		s.mu.Unlock()
		return
	}
	f.updating = time.Now()
	f.generation++
	s.mu.Unlock()
	// The environment's code changes under no running invocation.
	f.invokeMu.Lock()
	if f.dep != nil {
		f.dep.Close(context.Background())
		f.dep = nil
	}
	err := s.unpack(f, in.ZipFile)
	f.invokeMu.Unlock()
	if err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "Could not unzip uploaded file. "+err.Error())
		return
	}
	s.mu.Lock()
	cfg := s.configOf(f)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, cfg)
}

func (s *Server) listTags(w http.ResponseWriter, name string) {
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	tags := clone(f.tags)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"Tags": tags})
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request, name string) {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	for k, v := range in.Tags {
		f.tags[k] = v
	}
	s.mu.Unlock()
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) accountSettings(w http.ResponseWriter) {
	s.mu.Lock()
	n := len(s.functions)
	var size int64
	for _, f := range s.functions {
		size += int64(len(f.zip))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"AccountLimit": map[string]any{"TotalCodeSize": int64(80530636800), "CodeSizeUnzipped": 262144000,
			"CodeSizeZipped": 52428800, "ConcurrentExecutions": s.opts.UnreservedConcurrency + 100,
			"UnreservedConcurrentExecutions": s.opts.UnreservedConcurrency},
		"AccountUsage": map[string]any{"TotalCodeSize": size, "FunctionCount": n},
	})
}

// invoke runs the function once with faaslab's fake platform and answers
// as Lambda does: the value, or the error with X-Amz-Function-Error, and
// the log tail with a REPORT line when asked.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, name string, fault *Fault) {
	event, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if len(bytes.TrimSpace(event)) == 0 {
		event = []byte("{}")
	}
	if !json.Valid(event) {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ != "" && typ != "RequestResponse" && typ != "Event" && typ != "DryRun" {
		s.lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException",
			"1 validation error detected: Value '"+typ+"' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
		return
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	c := s.configOf(f)
	gen := f.generation
	s.mu.Unlock()
	if c.State == "Pending" {
		s.lambdaError(w, http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. The function is currently in the following state: Pending")
		return
	}
	switch typ {
	case "Event":
		w.Header().Set("X-Amzn-RequestId", s.enqueue(f, event))
		w.WriteHeader(http.StatusAccepted)
		return
	case "DryRun":
		w.Header().Set("X-Amzn-RequestId", requestID())
		w.WriteHeader(http.StatusNoContent)
		return
	}
	id := requestID()
	var inv platform.Invocation
	var stream string
	if fault != nil && fault.Kind == FunctionTimeout {
		inv = platform.Invocation{Status: platform.StatusTimeout, Duration: time.Duration(c.Timeout) * time.Second,
			ErrorType: fake.ErrTypeTimeout}
		s.mu.Lock()
		if f.stream == "" {
			f.stream = streamName()
		}
		stream = f.stream
		s.mu.Unlock()
	} else {
		inv, stream, err = s.run(r.Context(), f, c, gen, event)
		if err != nil {
			s.lambdaError(w, http.StatusInternalServerError, "ServiceException", "lambdafake: "+err.Error())
			return
		}
	}
	out := s.outcomeOf(c, id, inv)
	s.record(f, c, id, inv, out, stream, InvocationRecord{Event: event})
	s.answer(w, r, id, out)
}

// run invokes the function's environment, starting one when there is
// none for the current configuration, and returns the environment's log
// stream with the invocation.
func (s *Server) run(ctx context.Context, f *function, c Configuration, gen int, event []byte) (platform.Invocation, string, error) {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()
	if f.dep != nil && f.depGen != gen {
		f.dep.Close(context.Background())
		f.dep = nil
	}
	if f.dep == nil {
		dep, err := s.platform.Deploy(ctx, platform.Function{
			Name: c.FunctionName, CodeDir: f.codeDir, Handler: entryModule + ".handler", Runtime: c.Runtime,
			MemoryMB: c.MemorySize, Arch: c.Architectures[0], Timeout: time.Duration(c.Timeout) * time.Second,
			EphemeralMB: c.EphemeralStorage.Size,
			Env:         s.functionEnv(c),
		})
		if err != nil {
			return platform.Invocation{}, "", err
		}
		f.dep, f.depGen = dep, gen
	}
	inv, err := f.dep.Invoke(ctx, event)
	if err != nil {
		f.dep.Close(context.Background())
		f.dep = nil
	}
	s.mu.Lock()
	if inv.Cold || f.stream == "" {
		f.stream = streamName() // a new execution environment
	}
	stream := f.stream
	s.mu.Unlock()
	return inv, stream, err
}

// Role credentials the fake gives functions, as Lambda gives a
// function its execution role's: any signature is accepted.
const (
	RoleAccessKeyID     = "ASIAFAKELAMBDAROLE01"
	RoleSecretAccessKey = "fakeSecretKeyOfTheLambdaFakeRole01234567"
)

// functionEnv is the environment of a function's process: its own
// variables and, as Lambda gives them, its role's credentials, the
// region and (where Lambda has none) the fake's S3 endpoint; entry.py
// sets them all from JSON at import.
func (s *Server) functionEnv(c Configuration) map[string]string {
	own := map[string]string{}
	if c.Environment != nil {
		own = clone(c.Environment.Variables)
	}
	ownJSON, _ := json.Marshal(own)
	runtimeJSON, _ := json.Marshal(map[string]string{
		"AWS_ACCESS_KEY_ID":     RoleAccessKeyID,
		"AWS_SECRET_ACCESS_KEY": RoleSecretAccessKey,
		"AWS_SESSION_TOKEN":     sessionPrefix + c.FunctionName,
		"AWS_REGION":            Region,
		"AWS_DEFAULT_REGION":    Region,
		"AWS_ENDPOINT_URL_S3":   s.URL,
	})
	return map[string]string{"LAMBDAFAKE_ENV": string(ownJSON), "LAMBDAFAKE_RUNTIME_ENV": string(runtimeJSON),
		"LAMBDAFAKE_HANDLER": c.Handler}
}

// outcome is what Lambda makes of an invocation: the response's payload
// and X-Amz-Function-Error, the REPORT line's figures, and the log.
type outcome struct {
	payload       []byte
	functionError string
	rep           report.Report
	log           []byte
}

// outcomeOf is the outcome of the invocation id that ended as inv.
func (s *Server) outcomeOf(c Configuration, id string, inv platform.Invocation) outcome {
	timeout := time.Duration(c.Timeout) * time.Second
	rep := report.Report{RequestID: id, Duration: inv.Duration, MemorySizeMB: c.MemorySize, Status: report.StatusSuccess,
		MaxMemoryUsedMB: int(math.Ceil(float64(inv.MaxRSSKB) / 1024))}
	if rep.MaxMemoryUsedMB == 0 {
		rep.MaxMemoryUsedMB = 30 // a Python runtime's least
	}
	var payload []byte
	var functionError, extraLog string
	lambdaErr := func(typ, msg, trace string) []byte {
		stack := []string{}
		if trace != "" {
			stack = strings.SplitAfter(trace, "\n")
		}
		b, _ := json.Marshal(map[string]any{"errorType": typ, "errorMessage": msg, "requestId": id, "stackTrace": stack})
		return b
	}
	switch inv.Status {
	case platform.StatusOK:
		payload = inv.Result
	case platform.StatusTimeout:
		functionError = "Unhandled"
		msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", id, timeout.Seconds())
		payload = lambdaErr("Sandbox.Timedout", msg, "")
		extraLog = fmt.Sprintf("%s %s Task timed out after %.2f seconds\n", time.Now().UTC().Format(time.RFC3339Nano), id, timeout.Seconds())
		rep.Duration, rep.Status = timeout, report.StatusTimeout
	case platform.StatusCrash:
		functionError = "Unhandled"
		typ := "Runtime.ExitError"
		if rep.MaxMemoryUsedMB >= c.MemorySize {
			typ = "Runtime.OutOfMemory"
		}
		payload = lambdaErr(typ, fmt.Sprintf("RequestId: %s Error: %s", id, inv.ErrorMessage), "")
		rep.Status, rep.ErrorType = report.StatusError, typ
	default: // an exception the handler (not faaslab's wrapper) let out, or a failed init
		functionError = "Unhandled"
		payload = lambdaErr(inv.ErrorType, inv.ErrorMessage, inv.Traceback)
		rep.Status, rep.ErrorType = report.StatusError, "Runtime.Unknown"
		if inv.Status == platform.StatusError {
			rep.Status, rep.ErrorType = report.StatusSuccess, ""
		}
	}
	rep.BilledDuration = (rep.Duration + time.Millisecond - 1).Truncate(time.Millisecond)
	if rep.BilledDuration == 0 {
		rep.BilledDuration = time.Millisecond
	}
	if inv.Cold {
		d := max(inv.InitDuration, 10*time.Microsecond)
		if s.opts.SnapStart {
			rep.RestoreDuration = d
			rep.BilledRestoreDuration = (d + time.Millisecond - 1).Truncate(time.Millisecond)
		} else {
			rep.InitDuration = d
		}
	}
	return outcome{payload: payload, functionError: functionError, rep: rep, log: logOf(c, id, inv.Log+extraLog, rep)}
}

// answer writes Lambda's response to the invocation id.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, id string, out outcome) {
	h := w.Header()
	h.Set("X-Amzn-RequestId", id)
	h.Set("X-Amz-Executed-Version", "$LATEST")
	if out.functionError != "" {
		h.Set("X-Amz-Function-Error", out.functionError)
	}
	if r.Header.Get("X-Amz-Log-Type") == "Tail" {
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(tail(out.log)))
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out.payload)
}

// logOf is an invocation's log in the function's log format.
func logOf(c Configuration, id, output string, rep report.Report) []byte {
	var b strings.Builder
	now := time.Now().UTC()
	if c.LoggingConfig != nil && c.LoggingConfig.LogFormat == FormatJSON {
		ts := now.Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(&b, `{"time":%q,"type":"platform.start","record":{"requestId":%q,"version":"$LATEST"}}`+"\n", ts, id)
		b.WriteString(output)
		if output != "" && !strings.HasSuffix(output, "\n") {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, `{"time":%q,"type":"platform.runtimeDone","record":{"requestId":%q,"status":%q}}`+"\n", ts, id, rep.Status)
		b.WriteString(rep.JSON(now))
		b.WriteByte('\n')
		return []byte(b.String())
	}
	fmt.Fprintf(&b, "START RequestId: %s Version: $LATEST\n", id)
	b.WriteString(output)
	if output != "" && !strings.HasSuffix(output, "\n") {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "END RequestId: %s\n%s\t\n", id, rep.Text())
	return []byte(b.String())
}

// tail is the last 4 KB of log, as Lambda returns it.
func tail(log []byte) []byte {
	if len(log) > 4096 {
		return log[len(log)-4096:]
	}
	return log
}

// requestID returns a random id in the form of Lambda's.
func requestID() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
