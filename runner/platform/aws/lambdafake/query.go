package lambdafake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// query answers the AWS query protocol calls (a form posted to /) of STS
// and IAM that faaslab makes.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.queryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	op := r.PostForm.Get("Action")
	roleName := r.PostForm.Get("RoleName")
	if f := s.take(op, ""); f != nil {
		switch f.Kind {
		case Throttle:
			s.queryError(w, http.StatusBadRequest, "Throttling", "Rate exceeded (injected)")
			return
		case ServerError:
			s.queryError(w, http.StatusInternalServerError, "ServiceFailure", "internal error (injected)")
			return
		case AccessDenied:
			s.queryError(w, http.StatusForbidden, "AccessDenied",
				"User: arn:aws:iam::"+Account+":user/fake is not authorized to perform: "+op+" (injected)")
			return
		case Drop:
			drop(w)
			return
		}
	}
	switch op {
	case "GetCallerIdentity":
		s.queryResult(w, op, fmt.Sprintf("<Arn>arn:aws:iam::%s:user/fake</Arn><UserId>AIDAFAKEUSER</UserId><Account>%s</Account>",
			Account, Account))
	case "GetRole":
		if rl := s.findRole(w, roleName); rl != nil {
			s.queryResult(w, op, roleXML(roleName, rl))
		}
	case "CreateRole":
		s.mu.Lock()
		if _, ok := s.roles[roleName]; ok {
			s.mu.Unlock()
			s.queryError(w, http.StatusConflict, "EntityAlreadyExists", "Role with name "+roleName+" already exists.")
			return
		}
		rl := &role{arn: "arn:aws:iam::" + Account + ":role/" + roleName, tags: formTags(r)}
		s.roles[roleName] = rl
		s.mu.Unlock()
		s.queryResult(w, op, roleXML(roleName, rl))
	case "AttachRolePolicy", "DetachRolePolicy":
		policy := r.PostForm.Get("PolicyArn")
		s.mu.Lock()
		rl := s.roles[roleName]
		if rl != nil {
			var kept []string
			for _, p := range rl.policies {
				if p != policy {
					kept = append(kept, p)
				}
			}
			if op == "AttachRolePolicy" {
				kept = append(kept, policy)
			}
			rl.policies = kept
		}
		s.mu.Unlock()
		if rl == nil {
			s.queryError(w, http.StatusNotFound, "NoSuchEntity", "The role with name "+roleName+" cannot be found.")
			return
		}
		s.queryResult(w, op, "")
	case "ListRoleTags":
		if rl := s.findRole(w, roleName); rl != nil {
			s.queryResult(w, op, "<IsTruncated>false</IsTruncated><Tags>"+tagsXML(rl.tags)+"</Tags>")
		}
	case "ListAttachedRolePolicies":
		if rl := s.findRole(w, roleName); rl != nil {
			var b strings.Builder
			for _, p := range rl.policies {
				name := p[strings.LastIndex(p, "/")+1:]
				fmt.Fprintf(&b, "<member><PolicyArn>%s</PolicyArn><PolicyName>%s</PolicyName></member>", esc(p), esc(name))
			}
			s.queryResult(w, op, "<AttachedPolicies>"+b.String()+"</AttachedPolicies><IsTruncated>false</IsTruncated>")
		}
	case "DeleteRole":
		s.mu.Lock()
		rl := s.roles[roleName]
		switch {
		case rl == nil:
			s.mu.Unlock()
			s.queryError(w, http.StatusNotFound, "NoSuchEntity", "The role with name "+roleName+" cannot be found.")
			return
		case len(rl.policies) > 0:
			s.mu.Unlock()
			s.queryError(w, http.StatusConflict, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
			return
		case len(rl.inline) > 0:
			s.mu.Unlock()
			s.queryError(w, http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first.")
			return
		}
		delete(s.roles, roleName)
		s.mu.Unlock()
		s.queryResult(w, op, "")
	case "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies":
		s.rolePolicy(w, r, op, roleName)
	default:
		s.queryError(w, http.StatusBadRequest, "InvalidAction", "lambdafake does not implement "+op)
	}
}

// rolePolicy answers IAM's calls on a role's inline policies.
func (s *Server) rolePolicy(w http.ResponseWriter, r *http.Request, op, roleName string) {
	name, doc := r.PostForm.Get("PolicyName"), r.PostForm.Get("PolicyDocument")
	if op == "PutRolePolicy" && !json.Valid([]byte(doc)) {
		s.queryError(w, http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
		return
	}
	s.mu.Lock()
	rl := s.roles[roleName]
	if rl == nil {
		s.mu.Unlock()
		s.queryError(w, http.StatusNotFound, "NoSuchEntity", "The role with name "+roleName+" cannot be found.")
		return
	}
	_, exists := rl.inline[name]
	switch op {
	case "PutRolePolicy":
		if rl.inline == nil {
			rl.inline = map[string]string{}
		}
		rl.inline[name] = doc
		s.mu.Unlock()
		s.queryResult(w, op, "")
		return
	case "ListRolePolicies":
		var names []string
		for n := range rl.inline {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "<member>%s</member>", esc(n))
		}
		s.queryResult(w, op, "<PolicyNames>"+b.String()+"</PolicyNames><IsTruncated>false</IsTruncated>")
		return
	}
	if !exists {
		s.mu.Unlock()
		s.queryError(w, http.StatusNotFound, "NoSuchEntity", "The role policy with name "+name+" cannot be found.")
		return
	}
	doc = rl.inline[name]
	if op == "DeleteRolePolicy" {
		delete(rl.inline, name)
	}
	s.mu.Unlock()
	if op == "DeleteRolePolicy" {
		s.queryResult(w, op, "")
		return
	}
	// IAM returns policy documents URL-encoded.
	s.queryResult(w, op, fmt.Sprintf("<RoleName>%s</RoleName><PolicyName>%s</PolicyName><PolicyDocument>%s</PolicyDocument>",
		esc(roleName), esc(name), esc(strings.ReplaceAll(url.QueryEscape(doc), "+", "%20"))))
}

// RolePolicies returns the inline policies of the role name (policy name
// to document), nil when the role does not exist.
func (s *Server) RolePolicies(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.roles[name]
	if rl == nil {
		return nil
	}
	return clone(rl.inline)
}

// findRole returns the role name, or answers NoSuchEntity.
func (s *Server) findRole(w http.ResponseWriter, name string) *role {
	s.mu.Lock()
	rl := s.roles[name]
	s.mu.Unlock()
	if rl == nil {
		s.queryError(w, http.StatusNotFound, "NoSuchEntity", "The role with name "+name+" cannot be found.")
	}
	return rl
}

// formTags reads Tags.member.N.Key/Value.
func formTags(r *http.Request) map[string]string {
	tags := map[string]string{}
	for i := 1; ; i++ {
		k := r.PostForm.Get("Tags.member." + strconv.Itoa(i) + ".Key")
		if k == "" {
			return tags
		}
		tags[k] = r.PostForm.Get("Tags.member." + strconv.Itoa(i) + ".Value")
	}
}

func tagsXML(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "<member><Key>%s</Key><Value>%s</Value></member>", esc(k), esc(tags[k]))
	}
	return b.String()
}

func roleXML(name string, rl *role) string {
	return fmt.Sprintf("<Role><Path>/</Path><RoleName>%s</RoleName><RoleId>AROAFAKE%s</RoleId><Arn>%s</Arn>"+
		"<CreateDate>2026-01-01T00:00:00Z</CreateDate><Tags>%s</Tags></Role>", esc(name), strings.ToUpper(strconv.Itoa(len(name))), esc(rl.arn), tagsXML(rl.tags))
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) queryResult(w http.ResponseWriter, op, inner string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "<%sResponse><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>",
		op, op, inner, op, requestID(), op)
}

func (s *Server) queryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, "<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
		typ, code, esc(msg), requestID())
}
