package lambdafake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// statement is one statement of a function's resource-based policy, in
// the shape Lambda writes it.
type statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal any                          `json:"Principal"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// policyDocument is the resource-based policy of f, as GetPolicy returns
// it. s.mu is held.
func policyDocument(f *function) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "default", "Statement": f.policy})
	return string(b)
}

var (
	sidRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,100}$`)
	actionRE = regexp.MustCompile(`^(lambda:[*]|lambda:[a-zA-Z]+|[*])$`)
)

// addPermission is Lambda's AddPermission.
func (s *Server) addPermission(w http.ResponseWriter, r *http.Request, name string) {
	var in struct {
		StatementID   string `json:"StatementId"`
		Action        string `json:"Action"`
		Principal     string `json:"Principal"`
		SourceArn     string `json:"SourceArn"`
		SourceAccount string `json:"SourceAccount"`
		RevisionID    string `json:"RevisionId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		return
	}
	switch {
	case !sidRE.MatchString(in.StatementID):
		s.lambdaError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value '"+in.StatementID+"' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)")
		return
	case !actionRE.MatchString(in.Action):
		s.lambdaError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value '"+in.Action+"' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])")
		return
	case in.Principal == "":
		s.lambdaError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value null at 'principal' failed to satisfy constraint: Member must not be null")
		return
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	st := statement{Sid: in.StatementID, Effect: "Allow", Action: in.Action, Resource: f.config.FunctionArn}
	switch {
	case in.Principal == "*":
		st.Principal = "*"
	case regexp.MustCompile(`^\d{12}$`).MatchString(in.Principal):
		st.Principal = map[string]string{"AWS": "arn:aws:iam::" + in.Principal + ":root"}
	case strings.HasPrefix(in.Principal, "arn:"):
		st.Principal = map[string]string{"AWS": in.Principal}
	default:
		st.Principal = map[string]string{"Service": in.Principal}
	}
	if in.SourceAccount != "" || in.SourceArn != "" {
		st.Condition = map[string]map[string]string{}
		if in.SourceAccount != "" {
			st.Condition["StringEquals"] = map[string]string{"AWS:SourceAccount": in.SourceAccount}
		}
		if in.SourceArn != "" {
			st.Condition["ArnLike"] = map[string]string{"AWS:SourceArn": in.SourceArn}
		}
	}
	s.mu.Lock()
	if in.RevisionID != "" && in.RevisionID != f.policyRevision() {
		s.mu.Unlock()
		s.lambdaError(w, http.StatusPreconditionFailed, "PreconditionFailedException",
			"The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id")
		return
	}
	for _, old := range f.policy {
		if old.Sid == in.StatementID {
			s.mu.Unlock()
			s.lambdaError(w, http.StatusConflict, "ResourceConflictException",
				"The statement id ("+in.StatementID+") provided already exists. Please provide a new statement id, or remove the existing statement.")
			return
		}
	}
	f.policy = append(f.policy, st)
	f.policyChanged = time.Now()
	s.mu.Unlock()
	b, _ := json.Marshal(st)
	writeJSON(w, http.StatusCreated, map[string]string{"Statement": string(b)})
}

// removePermission is Lambda's RemovePermission.
func (s *Server) removePermission(w http.ResponseWriter, name, sid string) {
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	kept := f.policy[:0:0]
	for _, st := range f.policy {
		if st.Sid != sid {
			kept = append(kept, st)
		}
	}
	found := len(kept) < len(f.policy)
	f.policy = kept
	if found {
		f.policyChanged = time.Now()
	}
	s.mu.Unlock()
	if !found {
		s.lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Statement "+sid+" is not found in resource policy.")
		return
	}
	w.Header().Set("X-Amzn-RequestId", requestID())
	w.WriteHeader(http.StatusNoContent)
}

// getPolicy is Lambda's GetPolicy: the policy document as a string.
func (s *Server) getPolicy(w http.ResponseWriter, name string) {
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	if len(f.policy) == 0 {
		s.mu.Unlock()
		s.lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "The resource you requested does not exist.")
		return
	}
	out := map[string]string{"Policy": policyDocument(f), "RevisionId": f.policyRevision()}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// policyRevision identifies the policy's current revision. s.mu is held.
func (f *function) policyRevision() string {
	return fmt.Sprintf("%x-%d", f.policyChanged.UnixNano(), len(f.policy))
}

// s3MayInvoke says whether the function arn exists and its policy lets
// S3 invoke it for bucket, as S3 checks a notification's destination.
func (s *Server) s3MayInvoke(arn, bucket string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.functions[functionName(arn)]
	if f == nil {
		return false
	}
	for _, st := range f.policy {
		if st.Action != "lambda:InvokeFunction" && st.Action != "lambda:*" && st.Action != "*" {
			continue
		}
		switch p := st.Principal.(type) {
		case string:
			if p != "*" {
				continue
			}
		case map[string]string:
			if p["Service"] != "s3.amazonaws.com" {
				continue
			}
		}
		if a := st.Condition["ArnLike"]["AWS:SourceArn"]; a != "" && !arnLike(a, "arn:aws:s3:::"+bucket) {
			continue
		}
		if a := st.Condition["StringEquals"]["AWS:SourceAccount"]; a != "" && a != Account {
			continue
		}
		return true
	}
	return false
}

// arnLike matches an ARN against a pattern with * and ? wildcards, as
// IAM's ArnLike does.
func arnLike(pattern, arn string) bool {
	re := strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern))
	ok, err := regexp.MatchString("^"+re+"$", arn)
	return err == nil && ok
}

// eventInvokeConfig is a function's FunctionEventInvokeConfig.
type eventInvokeConfig struct {
	MaximumRetryAttempts     *int            `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int            `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        json.RawMessage `json:"DestinationConfig,omitempty"`
	modified                 time.Time
}

// eventInvokeConfigOp is Put-, Update-, Get- and
// DeleteFunctionEventInvokeConfig.
func (s *Server) eventInvokeConfigOp(w http.ResponseWriter, r *http.Request, op, name string) {
	var in eventInvokeConfig
	if op == "PutFunctionEventInvokeConfig" || op == "UpdateFunctionEventInvokeConfig" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
			return
		}
		if v := in.MaximumRetryAttempts; v != nil && (*v < 0 || *v > 2) {
			s.lambdaError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf(
				"1 validation error detected: Value '%d' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value between 0 and 2", *v))
			return
		}
		if v := in.MaximumEventAgeInSeconds; v != nil && (*v < 60 || *v > 21600) {
			s.lambdaError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf(
				"1 validation error detected: Value '%d' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600", *v))
			return
		}
	}
	f := s.lookup(w, name)
	if f == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := f.config.FunctionArn + ":$LATEST"
	switch op {
	case "PutFunctionEventInvokeConfig":
		in.modified = time.Now()
		f.eventConfig = &in
	case "UpdateFunctionEventInvokeConfig":
		c := eventInvokeConfig{}
		if f.eventConfig != nil {
			c = *f.eventConfig
		}
		if in.MaximumRetryAttempts != nil {
			c.MaximumRetryAttempts = in.MaximumRetryAttempts
		}
		if in.MaximumEventAgeInSeconds != nil {
			c.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
		}
		if in.DestinationConfig != nil {
			c.DestinationConfig = in.DestinationConfig
		}
		c.modified = time.Now()
		f.eventConfig = &c
	case "GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig":
		if f.eventConfig == nil {
			s.lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "The function "+arn+" doesn't have an EventInvokeConfig")
			return
		}
		if op == "DeleteFunctionEventInvokeConfig" {
			f.eventConfig = nil
			w.Header().Set("X-Amzn-RequestId", requestID())
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	c := f.eventConfig
	out := map[string]any{"FunctionArn": arn, "LastModified": float64(c.modified.UnixMilli()) / 1000}
	if c.MaximumRetryAttempts != nil {
		out["MaximumRetryAttempts"] = *c.MaximumRetryAttempts
	}
	if c.MaximumEventAgeInSeconds != nil {
		out["MaximumEventAgeInSeconds"] = *c.MaximumEventAgeInSeconds
	}
	if c.DestinationConfig != nil {
		out["DestinationConfig"] = c.DestinationConfig
	}
	writeJSON(w, http.StatusOK, out)
}

// asyncLimits are the retries and the age limit of f's asynchronous
// events: Lambda's defaults (2 retries, 6 hours) unless configured.
// s.mu is held.
func (f *function) asyncLimits() (retries int, maxAge int) {
	retries, maxAge = 2, 21600
	if c := f.eventConfig; c != nil {
		if c.MaximumRetryAttempts != nil {
			retries = *c.MaximumRetryAttempts
		}
		if c.MaximumEventAgeInSeconds != nil {
			maxAge = *c.MaximumEventAgeInSeconds
		}
	}
	return retries, maxAge
}
