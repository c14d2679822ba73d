// Package policy is the IAM policy language of S3 bucket policies: parsing
// (with AWS's MalformedPolicy reasons for what it does not understand) and
// evaluation against a request (explicit Deny wins, then Allow, else the
// caller's default decides: the bucket's owner and ACLs).
//
// Our users are IAM users of one account, AccountID: the user with access
// key K is arn:aws:iam::000000000000:user/K, its canonical ID is K, and
// "arn:aws:iam::000000000000:root" (or "000000000000") names every user of
// the cluster. docs/access.md says more.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// AccountID is the account our users belong to, in ARNs.
const AccountID = "000000000000"

// MaxSize is the largest policy document S3 accepts (20 KB).
const MaxSize = 20 << 10

// MalformedError is a policy refused, with AWS's wording of why where it
// has one. The gateway answers it as MalformedPolicy.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return e.Reason }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// Policy is a parsed bucket policy.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid        string
	Deny       bool
	Principals principals // Principal, or NotPrincipal when NotPrincipal
	NotPrin    bool
	Actions    []string // lower-case patterns
	NotAction  bool
	Resources  []string // patterns of "bucket" or "bucket/key", without arn:aws:s3:::
	NotRes     bool
	Conditions []condition
	noVars     bool // version 2008-10-17: ${...} in resources is literal
}

// principals is a Principal element: Any ("*"), or users, the whole
// account and canonical IDs.
type principals struct {
	Any     bool
	Account bool     // every user of the cluster (the account's root)
	Users   []string // access keys
}

// stringList is a JSON string or array of strings.
func stringList(raw json.RawMessage, what string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, malformed("Invalid %s", what)
		}
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, malformed("%s must be a string or an array of strings", what)
	}
	if len(l) == 0 {
		return nil, malformed("%s is empty", what)
	}
	return l, nil
}

// fields decodes a JSON object into its members, refusing duplicates
// (which encoding/json would silently merge).
func fields(raw json.RawMessage, what string) (map[string]json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, nil, malformed("%s must be a JSON object", what)
	}
	m := map[string]json.RawMessage{}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, malformed("Policies must be valid JSON")
		}
		k := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, malformed("Policies must be valid JSON")
		}
		if _, dup := m[k]; dup {
			return nil, nil, malformed("Duplicate field %s in %s", k, what)
		}
		m[k] = v
		order = append(order, k)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, malformed("Policies must be valid JSON")
	}
	return m, order, nil
}

// Parse parses and checks a bucket policy of bucket.
func Parse(doc []byte, bucket string) (*Policy, error) {
	if len(doc) > MaxSize {
		return nil, malformed("Policies must be no larger than %d bytes", MaxSize)
	}
	t := bytes.TrimSpace(doc)
	if len(t) == 0 || t[0] != '{' {
		return nil, malformed("Policies must be valid JSON and the first byte must be '{'")
	}
	if !json.Valid(t) {
		return nil, malformed("Policies must be valid JSON")
	}
	top, order, err := fields(t, "the policy")
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for _, k := range order {
		v := top[k]
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &p.Version); err != nil || (p.Version != "2012-10-17" && p.Version != "2008-10-17") {
				return nil, malformed("The policy must contain a valid version string")
			}
		case "Id":
			if err := json.Unmarshal(v, &p.ID); err != nil {
				return nil, malformed("Id must be a string")
			}
		case "Statement":
		default:
			return nil, malformed("Unknown field %s", k)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed("Missing required field Statement")
	}
	raw = bytes.TrimSpace(raw)
	var stmts []json.RawMessage
	switch {
	case len(raw) > 0 && raw[0] == '{':
		stmts = []json.RawMessage{raw}
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &stmts); err != nil {
			return nil, malformed("Statement must be an object or an array of objects")
		}
	default:
		return nil, malformed("Statement must be an object or an array of objects")
	}
	if len(stmts) == 0 {
		return nil, malformed("Could not parse the policy: Statement is empty!")
	}
	sids := map[string]bool{}
	for i, s := range stmts {
		st, err := parseStatement(s, bucket, p.Version == "2012-10-17")
		if err != nil {
			var me *MalformedError
			if errorAs(err, &me) && len(stmts) > 1 {
				me.Reason = fmt.Sprintf("%s (statement %d)", me.Reason, i+1)
			}
			return nil, err
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				return nil, malformed("Statement IDs (SID) in a single policy must be unique: %s", st.Sid)
			}
			sids[st.Sid] = true
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func errorAs(err error, me **MalformedError) bool {
	e, ok := err.(*MalformedError)
	if ok {
		*me = e
	}
	return ok
}

func parseStatement(raw json.RawMessage, bucket string, vars bool) (Statement, error) {
	var st Statement
	m, order, err := fields(raw, "a statement")
	if err != nil {
		return st, err
	}
	for _, k := range order {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition":
		default:
			return st, malformed("Unknown field %s", k)
		}
	}
	if v, ok := m["Sid"]; ok {
		if err := json.Unmarshal(v, &st.Sid); err != nil {
			return st, malformed("Sid must be a string")
		}
	}
	var effect string
	if err := json.Unmarshal(m["Effect"], &effect); err != nil || m["Effect"] == nil {
		return st, malformed("Missing required field Effect")
	}
	switch effect {
	case "Allow":
	case "Deny":
		st.Deny = true
	default:
		return st, malformed("Invalid effect: %s", effect)
	}

	prin, notPrin := m["Principal"], m["NotPrincipal"]
	switch {
	case prin != nil && notPrin != nil:
		return st, malformed("Statement has both Principal and NotPrincipal")
	case prin == nil && notPrin == nil:
		return st, malformed("Missing required field Principal")
	case notPrin != nil:
		st.NotPrin, prin = true, notPrin
	}
	if st.Principals, err = parsePrincipal(prin); err != nil {
		return st, err
	}

	act, notAct := m["Action"], m["NotAction"]
	switch {
	case act != nil && notAct != nil:
		return st, malformed("Statement has both Action and NotAction")
	case act == nil && notAct == nil:
		return st, malformed("Missing required field Action")
	case notAct != nil:
		st.NotAction, act = true, notAct
	}
	list, err := stringList(act, "Action")
	if err != nil {
		return st, err
	}
	var kinds kind
	for _, a := range list {
		a = strings.ToLower(a)
		if a == "*" {
			a = "s3:*"
		}
		k := actionKinds(a)
		if k == 0 {
			return st, malformed("Policy has invalid action: %s", a)
		}
		kinds |= k
		st.Actions = append(st.Actions, a)
	}

	res, notRes := m["Resource"], m["NotResource"]
	switch {
	case res != nil && notRes != nil:
		return st, malformed("Statement has both Resource and NotResource")
	case res == nil && notRes == nil:
		return st, malformed("Missing required field Resource")
	case notRes != nil:
		st.NotRes, res = true, notRes
	}
	if list, err = stringList(res, "Resource"); err != nil {
		return st, err
	}
	var resKinds kind
	for _, r := range list {
		rest, ok := strings.CutPrefix(r, "arn:aws:s3:::")
		if !ok || rest == "" {
			return st, malformed("Policy has invalid resource: %s", r)
		}
		if vars {
			if err := checkVars(rest); err != nil {
				return st, err
			}
		}
		b, _, hasKey := strings.Cut(rest, "/")
		if !wildMatch(b, bucket) {
			return st, malformed("Policy has invalid resource: %s (not in bucket %s)", r, bucket)
		}
		switch {
		case strings.HasSuffix(b, "*") && !hasKey:
			resKinds |= onBucket | onObject
		case hasKey:
			resKinds |= onObject
		default:
			resKinds |= onBucket
		}
		st.Resources = append(st.Resources, rest)
	}
	if !st.NotAction && !st.NotRes && kinds&resKinds == 0 {
		return st, malformed("Action does not apply to any resource(s) in statement")
	}

	if c, ok := m["Condition"]; ok {
		if st.Conditions, err = parseConditions(c, vars); err != nil {
			return st, err
		}
	}
	if !vars {
		// Version 2008-10-17 knows no variables: ${...} is literal.
		st.noVars = true
		for i := range st.Conditions {
			st.Conditions[i].noVars = true
		}
	}
	return st, nil
}

func parsePrincipal(raw json.RawMessage) (principals, error) {
	var p principals
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		json.Unmarshal(raw, &s)
		if s != "*" {
			return p, malformed("Invalid principal in policy: %s", s)
		}
		p.Any = true
		return p, nil
	}
	m, order, err := fields(raw, "Principal")
	if err != nil {
		return p, malformed("Invalid principal in policy")
	}
	if len(order) == 0 {
		return p, malformed("Invalid principal in policy: empty")
	}
	for _, k := range order {
		list, err := stringList(m[k], "Principal")
		if err != nil {
			return p, err
		}
		switch k {
		case "AWS":
			for _, s := range list {
				if err := p.addAWS(s); err != nil {
					return p, err
				}
			}
		case "CanonicalUser":
			for _, s := range list {
				if s == "" || s == "*" {
					return p, malformed("Invalid principal in policy: CanonicalUser %q", s)
				}
				p.Users = append(p.Users, s)
			}
		default:
			return p, malformed("Invalid principal in policy: %s principals are not supported by this gateway", k)
		}
	}
	sort.Strings(p.Users)
	return p, nil
}

func (p *principals) addAWS(s string) error {
	switch {
	case s == "*":
		p.Any = true
	case s == AccountID || s == "arn:aws:iam::"+AccountID+":root":
		p.Account = true
	case strings.HasPrefix(s, "arn:aws:iam::"+AccountID+":user/"):
		u := strings.TrimPrefix(s, "arn:aws:iam::"+AccountID+":user/")
		if u == "" || strings.ContainsAny(u, "*?/") {
			return malformed("Invalid principal in policy: %s", s)
		}
		p.Users = append(p.Users, u)
	case strings.HasPrefix(s, "arn:"), s == "", strings.ContainsAny(s, "*?:/"):
		return malformed("Invalid principal in policy: %s (our users are arn:aws:iam::%s:user/ACCESS_KEY)", s, AccountID)
	default:
		p.Users = append(p.Users, s) // a bare access key
	}
	return nil
}

// Users returns the access keys the policy names as principals, so that
// the caller can refuse a policy naming users that do not exist (as AWS
// refuses unknown ARNs: "Invalid principal in policy").
func (p *Policy) Users() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range p.Statements {
		for _, u := range st.Principals.Users {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	sort.Strings(out)
	return out
}

// PublicRead is the policy `tnv admin bucket public` writes: anyone may
// read the bucket's objects (s3:GetObject) and, with list, list them.
func PublicRead(bucket string, list bool) string {
	b, _ := json.Marshal(bucket)
	arn := `"arn:aws:s3:::` + string(b[1:len(b)-1])
	doc := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":` + arn + `/*"}`
	if list {
		doc += `,{"Sid":"PublicList","Effect":"Allow","Principal":"*","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":` + arn + `"}`
	}
	return doc + `]}`
}
