package lambdafake

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/faaslab/faaslab/runner/objstore"
)

// The fake's S3 is gofakes3's REST API over an in-memory backend (not
// runner/objstore's store, which creates buckets on first use where S3
// answers NoSuchBucket), plus what gofakes3 lacks and faaslab's chains
// use: bucket tagging, bucket notification configurations validated
// against the functions' resource policies, and the delivery of
// ObjectCreated events to functions by asynchronous invocation.

// bucketState is what the fake keeps of a bucket beside its objects.
type bucketState struct {
	tags          map[string]string
	notifications []lambdaNotification
}

// lambdaNotification is one LambdaFunctionConfiguration (S3's XML calls
// it CloudFunctionConfiguration).
type lambdaNotification struct {
	ID       string   `xml:"Id,omitempty"`
	Function string   `xml:"CloudFunction"`
	Events   []string `xml:"Event"`
	Filter   *struct {
		Rules []filterRule `xml:"S3Key>FilterRule"`
	} `xml:"Filter,omitempty"`
}

type filterRule struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

// matches says whether an event named event ("ObjectCreated:Put") of the
// object key triggers n.
func (n lambdaNotification) matches(event, key string) bool {
	hit := false
	for _, e := range n.Events {
		if e == "s3:"+event || strings.HasSuffix(e, ":*") && strings.HasPrefix("s3:"+event, strings.TrimSuffix(e, "*")) {
			hit = true
		}
	}
	if !hit {
		return false
	}
	if n.Filter != nil {
		for _, r := range n.Filter.Rules {
			switch strings.ToLower(r.Name) {
			case "prefix":
				if !strings.HasPrefix(key, r.Value) {
					return false
				}
			case "suffix":
				if !strings.HasSuffix(key, r.Value) {
					return false
				}
			}
		}
	}
	return true
}

// newS3 returns gofakes3's handler over an empty in-memory backend.
func newS3() (gofakes3.Backend, http.Handler) {
	backend := s3mem.New()
	fake := gofakes3.New(backend,
		gofakes3.WithoutVersioning(),
		// Signatures are not checked, so a clock-skew check guards nothing.
		gofakes3.WithTimeSkewLimit(0),
	)
	return backend, fake.Server()
}

// unsupportedBucketSubresources are sub-resources gofakes3 would mistake
// for CreateBucket or ListObjects; the fake answers NotImplemented.
var unsupportedBucketSubresources = []string{"acl", "policy", "cors", "lifecycle", "encryption", "website",
	"logging", "replication", "object-lock", "accelerate", "requestPayment", "ownershipControls",
	"publicAccessBlock", "analytics", "metrics", "inventory", "intelligent-tiering", "policyStatus"}

// s3Op names the S3 operation of a request, for Calls and Inject.
func s3Op(r *http.Request) (op, bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	m := r.Method
	switch {
	case bucket == "":
		return "ListBuckets", "", ""
	case key == "" && q.Has("tagging"):
		return map[string]string{"PUT": "PutBucketTagging", "GET": "GetBucketTagging", "DELETE": "DeleteBucketTagging"}[m], bucket, ""
	case key == "" && q.Has("notification"):
		return map[string]string{"PUT": "PutBucketNotificationConfiguration", "GET": "GetBucketNotificationConfiguration"}[m], bucket, ""
	case key == "" && m == "POST" && q.Has("delete"):
		return "DeleteObjects", bucket, ""
	case key == "" && m == "GET" && q.Has("location"):
		return "GetBucketLocation", bucket, ""
	case key == "" && m == "GET" && q.Get("list-type") == "2":
		return "ListObjectsV2", bucket, ""
	case key == "":
		return map[string]string{"PUT": "CreateBucket", "GET": "ListObjects", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}[m], bucket, ""
	case q.Has("uploadId"):
		return map[string]string{"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload", "GET": "ListParts"}[m], bucket, key
	case q.Has("uploads") && m == "POST":
		return "CreateMultipartUpload", bucket, key
	case m == "PUT" && r.Header.Get("X-Amz-Copy-Source") != "":
		return "CopyObject", bucket, key
	}
	return map[string]string{"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}[m], bucket, key
}

// serveS3 answers an S3 request.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	op, bucket, key := s3Op(r)
	if op == "" {
		s.s3Error(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", "")
		return
	}
	if f := s.take(op, ""); f != nil {
		switch f.Kind {
		case Throttle:
			s.s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. (injected)", "")
			return
		case ServerError:
			s.s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again. (injected)", "")
			return
		case AccessDenied:
			s.s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied (injected)", "")
			return
		case Drop:
			drop(w)
			return
		}
	}
	if action, resource, caller := s.s3Denied(r, op, bucket, key); action != "" {
		s.s3Error(w, r, http.StatusForbidden, "AccessDenied", "User: "+caller+" is not authorized to perform: "+action+
			" on resource: \""+resource+"\" because no identity-based policy allows the "+action+" action", "")
		return
	}
	q := r.URL.Query()
	for _, sub := range unsupportedBucketSubresources {
		if q.Has(sub) {
			s.s3Error(w, r, http.StatusNotImplemented, "NotImplemented", "lambdafake does not implement the ?"+sub+" sub-resource", "")
			return
		}
	}
	if key != "" && (q.Has("tagging") || q.Has("retention") || q.Has("legal-hold") || q.Has("restore") || q.Has("select")) {
		s.s3Error(w, r, http.StatusNotImplemented, "NotImplemented", "lambdafake does not implement this object sub-resource", "")
		return
	}
	switch op {
	case "PutBucketTagging", "GetBucketTagging", "DeleteBucketTagging":
		s.bucketTagging(w, r, op, bucket)
		return
	case "PutBucketNotificationConfiguration", "GetBucketNotificationConfiguration":
		s.bucketNotification(w, r, op, bucket)
		return
	case "CreateBucket":
		if ok, _ := s.s3backend.BucketExists(bucket); ok {
			s.s3Error(w, r, http.StatusConflict, "BucketAlreadyOwnedByYou",
				"Your previous request to create the named bucket succeeded and you already own it.", bucket)
			return
		}
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.s3rest.ServeHTTP(rec, r)
	if rec.status/100 != 2 {
		return
	}
	switch op {
	case "DeleteBucket":
		s.mu.Lock()
		delete(s.buckets, bucket)
		s.mu.Unlock()
	case "PutObject":
		s.objectCreated(bucket, key, "ObjectCreated:Put")
	case "CopyObject":
		s.objectCreated(bucket, key, "ObjectCreated:Copy")
	case "CompleteMultipartUpload":
		s.objectCreated(bucket, key, "ObjectCreated:CompleteMultipartUpload")
	}
}

// statusRecorder notes the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// s3Error answers with S3's XML error document; resource, when not
// empty, is the BucketName of the error.
func (s *Server) s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg, resource string, extra ...string) {
	id := strings.ToUpper(strings.ReplaceAll(requestID(), "-", ""))[:16]
	w.Header().Set("x-amz-request-id", id)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s<Error><Code>%s</Code><Message>%s</Message>", xml.Header, code, esc(msg))
	if resource != "" {
		fmt.Fprintf(&b, "<BucketName>%s</BucketName>", esc(resource))
	}
	for _, e := range extra {
		b.WriteString(e)
	}
	fmt.Fprintf(&b, "<RequestId>%s</RequestId><HostId>lambdafake</HostId></Error>", id)
	io.WriteString(w, b.String())
}

// bucketOr answers NoSuchBucket unless bucket exists, and reports
// whether it does.
func (s *Server) bucketOr404(w http.ResponseWriter, r *http.Request, bucket string) bool {
	if ok, _ := s.s3backend.BucketExists(bucket); ok {
		return true
	}
	s.s3Error(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", bucket)
	return false
}

// state returns bucket's state, creating it. s.mu is held.
func (s *Server) state(bucket string) *bucketState {
	b := s.buckets[bucket]
	if b == nil {
		b = &bucketState{}
		s.buckets[bucket] = b
	}
	return b
}

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

func (s *Server) bucketTagging(w http.ResponseWriter, r *http.Request, op, bucket string) {
	if !s.bucketOr404(w, r, bucket) {
		return
	}
	switch op {
	case "PutBucketTagging":
		var in struct {
			Tags []struct {
				Key   string `xml:"Key"`
				Value string `xml:"Value"`
			} `xml:"TagSet>Tag"`
		}
		if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			s.s3Error(w, r, http.StatusBadRequest, "MalformedXML",
				"The XML you provided was not well-formed or did not validate against our published schema", "")
			return
		}
		tags := map[string]string{}
		for _, t := range in.Tags {
			if _, dup := tags[t.Key]; dup {
				s.s3Error(w, r, http.StatusBadRequest, "InvalidTag", "Cannot provide multiple Tags with the same key", "")
				return
			}
			tags[t.Key] = t.Value
		}
		if len(tags) > 50 {
			s.s3Error(w, r, http.StatusBadRequest, "BadRequest", "Object tags cannot be greater than 50", "")
			return
		}
		s.mu.Lock()
		s.state(bucket).tags = tags
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "GetBucketTagging":
		s.mu.Lock()
		tags := map[string]string(nil)
		if b := s.buckets[bucket]; b != nil && b.tags != nil {
			tags = clone(b.tags)
		}
		s.mu.Unlock()
		if tags == nil {
			s.s3Error(w, r, http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist", bucket)
			return
		}
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		fmt.Fprintf(&b, `%s<Tagging xmlns="%s"><TagSet>`, xml.Header, s3NS)
		for _, k := range keys {
			fmt.Fprintf(&b, "<Tag><Key>%s</Key><Value>%s</Value></Tag>", esc(k), esc(tags[k]))
		}
		b.WriteString("</TagSet></Tagging>")
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, b.String())
	case "DeleteBucketTagging":
		s.mu.Lock()
		if b := s.buckets[bucket]; b != nil {
			b.tags = nil
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) bucketNotification(w http.ResponseWriter, r *http.Request, op, bucket string) {
	if !s.bucketOr404(w, r, bucket) {
		return
	}
	if op == "GetBucketNotificationConfiguration" {
		s.mu.Lock()
		var ns []lambdaNotification
		if b := s.buckets[bucket]; b != nil {
			ns = b.notifications
		}
		s.mu.Unlock()
		out := struct {
			XMLName xml.Name             `xml:"NotificationConfiguration"`
			NS      string               `xml:"xmlns,attr"`
			Lambda  []lambdaNotification `xml:"CloudFunctionConfiguration"`
		}{NS: s3NS, Lambda: ns}
		b, _ := xml.Marshal(out)
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, xml.Header+string(b))
		return
	}
	var in struct {
		Lambda []lambdaNotification `xml:"CloudFunctionConfiguration"`
		Queue  []struct{}           `xml:"QueueConfiguration"`
		Topic  []struct{}           `xml:"TopicConfiguration"`
		Bridge []struct{}           `xml:"EventBridgeConfiguration"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := xml.Unmarshal(body, &in); err != nil && len(bytes.TrimSpace(body)) > 0 {
		s.s3Error(w, r, http.StatusBadRequest, "MalformedXML",
			"The XML you provided was not well-formed or did not validate against our published schema", "")
		return
	}
	if len(in.Queue)+len(in.Topic)+len(in.Bridge) > 0 {
		s.s3Error(w, r, http.StatusNotImplemented, "NotImplemented", "lambdafake delivers notifications to Lambda functions only", "")
		return
	}
	ids := map[string]bool{}
	for i, n := range in.Lambda {
		if n.ID == "" {
			// S3 names a configuration that has no Id itself.
			in.Lambda[i].ID = fmt.Sprintf("lambdafake-%d-%s", i+1, requestID()[:8])
		} else if ids[n.ID] {
			s.s3Error(w, r, http.StatusBadRequest, "InvalidArgument", "Configuration Id must be unique", "")
			return
		}
		ids[in.Lambda[i].ID] = true
		if len(n.Events) == 0 {
			s.s3Error(w, r, http.StatusBadRequest, "InvalidArgument", "The event is not supported for notifications", "")
			return
		}
		for _, e := range n.Events {
			if !strings.HasPrefix(e, "s3:") {
				s.s3Error(w, r, http.StatusBadRequest, "InvalidArgument", "The event is not supported for notifications", "")
				return
			}
		}
		if n.Filter != nil {
			seen := map[string]bool{}
			for _, fr := range n.Filter.Rules {
				name := strings.ToLower(fr.Name)
				if name != "prefix" && name != "suffix" || seen[name] {
					s.s3Error(w, r, http.StatusBadRequest, "InvalidArgument",
						"filter rule name must be either prefix or suffix, and appear at most once", "")
					return
				}
				seen[name] = true
			}
		}
	}
	// As S3 does, refuse a destination S3 may not invoke, unless asked to
	// skip the check.
	if !strings.EqualFold(r.Header.Get("X-Amz-Skip-Destination-Validation"), "true") {
		var extra []string
		for _, n := range in.Lambda {
			if !s.s3MayInvoke(n.Function, bucket) {
				k := len(extra)/2 + 1
				extra = append(extra,
					fmt.Sprintf("<ArgumentName%d>%s, %s</ArgumentName%d>", k, esc(n.Function), esc(n.ID), k),
					fmt.Sprintf("<ArgumentValue%d>Not authorized to invoke function [%s]</ArgumentValue%d>", k, esc(n.Function), k))
			}
		}
		if extra != nil {
			s.s3Error(w, r, http.StatusBadRequest, "InvalidArgument", "Unable to validate the following destination configurations", "", extra...)
			return
		}
	}
	s.mu.Lock()
	s.state(bucket).notifications = in.Lambda
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// objectCreated delivers the event of an object just created to the
// functions whose notification configurations match it, as S3 does:
// after the write, asynchronously, at least once.
func (s *Server) objectCreated(bucket, key, event string) {
	s.mu.Lock()
	var targets []lambdaNotification
	if b := s.buckets[bucket]; b != nil {
		for _, n := range b.notifications {
			if n.matches(event, key) {
				targets = append(targets, n)
			}
		}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	obj, err := s.s3backend.HeadObject(bucket, key)
	if err != nil {
		return // deleted since: nothing to report
	}
	if obj.Contents != nil {
		obj.Contents.Close()
	}
	at := time.Now()
	for _, n := range targets {
		doc := s3Event(bucket, key, event, n.ID, obj.Size, hex.EncodeToString(obj.Hash), at)
		s.deliver(n.Function, bucket, doc)
	}
}

// s3Event is the event document S3 sends a function: objstore's, in the
// fake's region and with the event's name, configuration and eTag.
func s3Event(bucket, key, event, configID string, size int64, etag string, at time.Time) []byte {
	var doc struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(objstore.Event(bucket, key, size, at), &doc); err != nil || len(doc.Records) != 1 {
		panic("lambdafake: objstore.Event changed shape")
	}
	rec := doc.Records[0]
	rec["awsRegion"] = Region
	rec["eventName"] = event
	rec["userIdentity"] = map[string]string{"principalId": "AWS:AIDAFAKEUSER"}
	s3 := rec["s3"].(map[string]any)
	s3["configurationId"] = configID
	s3["bucket"].(map[string]any)["ownerIdentity"] = map[string]string{"principalId": "AFAKEOWNER"}
	s3["object"].(map[string]any)["eTag"] = etag
	b, _ := json.Marshal(doc)
	return b
}

// deliver hands S3's event for bucket to the function arn (after the
// faults injected into op "S3Event" for that function).
func (s *Server) deliver(arn, bucket string, doc []byte) {
	name := functionName(arn)
	copies := 1
	var delay time.Duration
	if f := s.take("S3Event", name); f != nil {
		switch f.Kind {
		case LoseEvent:
			s.mu.Lock()
			s.lost++
			s.mu.Unlock()
			return
		case DuplicateEvent:
			copies = 2
		case DelayEvent:
			delay = f.Delay
		}
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Add(-1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
		}
		s.mu.Lock()
		f := s.functions[name]
		s.mu.Unlock()
		// S3 invokes with its service principal: a function removed, or
		// whose policy no longer allows S3, does not get the event.
		if f == nil || !s.s3MayInvoke(arn, bucket) {
			s.mu.Lock()
			s.lost++
			s.mu.Unlock()
			return
		}
		for i := 0; i < copies; i++ {
			s.enqueue(f, doc)
		}
	}()
}

// Buckets lists the buckets that exist, sorted by name.
func (s *Server) Buckets() []string {
	infos, _ := s.s3backend.ListBuckets()
	var names []string
	for _, b := range infos {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	return names
}

// BucketTags returns a bucket's tags (nil when it has none).
func (s *Server) BucketTags(bucket string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucket]; b != nil && b.tags != nil {
		return clone(b.tags)
	}
	return nil
}

// Objects lists the keys of bucket's objects under prefix, in key order.
func (s *Server) Objects(bucket, prefix string) []string {
	list, err := s.s3backend.ListBucket(bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		return nil
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// LostEvents is how many S3 event deliveries were lost: by an injected
// LoseEvent fault, or because the destination function was gone or no
// longer allowed S3 to invoke it.
func (s *Server) LostEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}
