package lambdafake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// A function reaches S3 with its execution role's credentials, and S3
// allows what the role's policies allow. The fake knows a call comes
// from a function by the session token it gave it; when the function's
// role is one the fake knows (created through its IAM), the role's
// inline policies and the S3 managed policies attached to it decide, as
// IAM would: an explicit Deny wins, else an Allow is needed. A role the
// fake does not know (a test's made-up ARN) is allowed everything.
// Conditions in statements are not evaluated: a statement with one
// applies as if it held.

// sessionPrefix starts the session token of a function's credentials.
const sessionPrefix = "lambdafake-session-"

// managedS3 is what the AWS managed policies a test may attach allow in S3.
var managedS3 = map[string][]string{
	"arn:aws:iam::aws:policy/AmazonS3FullAccess":     {"s3:*"},
	"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess": {"s3:Get*", "s3:List*"},
}

// s3Actions are the IAM actions and resources an S3 call needs.
func s3Actions(r *http.Request, op, bucket, key string) (actions, resources []string) {
	obj := "arn:aws:s3:::" + bucket + "/" + key
	bkt := "arn:aws:s3:::" + bucket
	switch op {
	case "GetObject", "HeadObject":
		return []string{"s3:GetObject"}, []string{obj}
	case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
		return []string{"s3:PutObject"}, []string{obj}
	case "CopyObject":
		src, _ := url.PathUnescape(strings.TrimPrefix(r.Header.Get("X-Amz-Copy-Source"), "/"))
		src, _, _ = strings.Cut(src, "?")
		return []string{"s3:PutObject", "s3:GetObject"}, []string{obj, "arn:aws:s3:::" + src}
	case "AbortMultipartUpload":
		return []string{"s3:AbortMultipartUpload"}, []string{obj}
	case "ListParts":
		return []string{"s3:ListMultipartUploadParts"}, []string{obj}
	case "DeleteObject":
		return []string{"s3:DeleteObject"}, []string{obj}
	case "DeleteObjects":
		// Each key needs s3:DeleteObject.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 2<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			Keys []string `xml:"Object>Key"`
		}
		xml.Unmarshal(body, &req) // gofakes3 answers malformed XML itself
		for _, k := range req.Keys {
			actions, resources = append(actions, "s3:DeleteObject"), append(resources, bkt+"/"+k)
		}
		return actions, resources
	case "ListObjects", "ListObjectsV2", "HeadBucket":
		return []string{"s3:ListBucket"}, []string{bkt}
	case "ListBuckets":
		return []string{"s3:ListAllMyBuckets"}, []string{"*"}
	case "PutBucketNotificationConfiguration":
		return []string{"s3:PutBucketNotification"}, []string{bkt}
	case "GetBucketNotificationConfiguration":
		return []string{"s3:GetBucketNotification"}, []string{bkt}
	case "DeleteBucketTagging":
		return []string{"s3:PutBucketTagging"}, []string{bkt}
	}
	return []string{"s3:" + op}, []string{bkt}
}

// s3Denied returns the action a function's call is denied, or "" when
// the call is not a function's or its role allows it.
func (s *Server) s3Denied(r *http.Request, op, bucket, key string) (action, resource, caller string) {
	token := r.Header.Get("X-Amz-Security-Token")
	if !strings.HasPrefix(token, sessionPrefix) {
		return "", "", ""
	}
	fn := strings.TrimPrefix(token, sessionPrefix)
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.functions[fn]
	if f == nil {
		return "", "", ""
	}
	roleName := f.config.Role[strings.LastIndex(f.config.Role, "/")+1:]
	rl := s.roles[roleName]
	if rl == nil {
		return "", "", ""
	}
	var allow, deny []policyStatement
	for _, p := range rl.policies {
		for _, a := range managedS3[p] {
			allow = append(allow, policyStatement{Effect: "Allow", Action: []string{a}, Resource: []string{"*"}})
		}
	}
	for _, doc := range rl.inline {
		for _, st := range parsePolicy(doc) {
			if st.Effect == "Deny" {
				deny = append(deny, st)
			} else if st.Effect == "Allow" {
				allow = append(allow, st)
			}
		}
	}
	actions, resources := s3Actions(r, op, bucket, key)
	for i, a := range actions {
		if grants(deny, a, resources[i]) || !grants(allow, a, resources[i]) {
			return a, resources[i], "arn:aws:sts::" + Account + ":assumed-role/" + roleName + "/" + fn
		}
	}
	return "", "", ""
}

// policyStatement is an identity policy's statement; Action and Resource
// may each be a string or a list.
type policyStatement struct {
	Effect   string
	Action   []string
	Resource []string
}

// parsePolicy reads a policy document's statements; a malformed one has
// none.
func parsePolicy(doc string) []policyStatement {
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return nil
	}
	var raw []map[string]json.RawMessage
	if json.Unmarshal(p.Statement, &raw) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(p.Statement, &one) != nil {
			return nil
		}
		raw = append(raw, one)
	}
	strs := func(m json.RawMessage) []string {
		var list []string
		if json.Unmarshal(m, &list) == nil {
			return list
		}
		var one string
		json.Unmarshal(m, &one)
		return []string{one}
	}
	var out []policyStatement
	for _, st := range raw {
		var effect string
		json.Unmarshal(st["Effect"], &effect)
		out = append(out, policyStatement{Effect: effect, Action: strs(st["Action"]), Resource: strs(st["Resource"])})
	}
	return out
}

// grants says whether one of statements covers action on resource.
// Actions match case-insensitively, resources case-sensitively, both
// with * and ? wildcards.
func grants(statements []policyStatement, action, resource string) bool {
	for _, st := range statements {
		actionOK, resourceOK := false, false
		for _, a := range st.Action {
			actionOK = actionOK || arnLike(strings.ToLower(a), strings.ToLower(action))
		}
		for _, r := range st.Resource {
			resourceOK = resourceOK || arnLike(r, resource)
		}
		if actionOK && resourceOK {
			return true
		}
	}
	return false
}
