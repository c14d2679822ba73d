package policy

import "strings"

// Decision is what a policy says of a request.
type Decision uint8

const (
	NoDecision Decision = iota // no statement applies: the owner and ACLs decide
	Allow
	Deny
)

func (d Decision) String() string {
	return [...]string{"none", "allow", "deny"}[d]
}

// Principal is who makes a request: nobody (anonymous) or one of our
// users, by access key.
type Principal struct {
	User string // "" anonymous
}

// ARN is the principal's ARN as aws:PrincipalArn has it.
func (p Principal) ARN() string {
	if p.User == "" {
		return ""
	}
	return "arn:aws:iam::" + AccountID + ":user/" + p.User
}

// Request is what a policy is evaluated against.
type Request struct {
	Principal Principal
	Action    string // "s3:GetObject" (any case)
	// Resource is "bucket" or "bucket/key" (the ARN without arn:aws:s3:::).
	Resource string
	// Context holds the condition keys' values, by lower-case key
	// (Context sets the principal's own keys).
	Context map[string][]string
}

// Context returns a context map with the principal's keys filled in:
// aws:username, aws:userid, aws:PrincipalArn, aws:PrincipalAccount,
// aws:PrincipalType.
func (p Principal) Context() map[string][]string {
	ctx := map[string][]string{}
	if p.User == "" {
		ctx["aws:principaltype"] = []string{"Anonymous"}
		return ctx
	}
	ctx["aws:principaltype"] = []string{"User"}
	ctx["aws:username"] = []string{p.User}
	ctx["aws:userid"] = []string{p.User}
	ctx["aws:principalarn"] = []string{p.ARN()}
	ctx["aws:principalaccount"] = []string{AccountID}
	return ctx
}

// Evaluate applies the policy to a request: Deny if a Deny statement
// applies, else Allow if an Allow statement does, else NoDecision.
func (p *Policy) Evaluate(r *Request) Decision {
	if p == nil {
		return NoDecision
	}
	action := strings.ToLower(r.Action)
	d := NoDecision
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.applies(r, action) {
			continue
		}
		if st.Deny {
			return Deny
		}
		d = Allow
	}
	return d
}

func (st *Statement) applies(r *Request, action string) bool {
	if st.Principals.match(r.Principal) == st.NotPrin {
		return false
	}
	am := false
	for _, a := range st.Actions {
		if wildMatch(a, action) {
			am = true
			break
		}
	}
	if am == st.NotAction {
		return false
	}
	rm := false
	for _, pat := range st.Resources {
		ok := true
		if !st.noVars {
			pat, ok = expand(pat, r.Context)
		}
		if ok && wildMatch(pat, r.Resource) {
			rm = true
			break
		}
	}
	if rm == st.NotRes {
		return false
	}
	for i := range st.Conditions {
		if !st.Conditions[i].eval(r.Context) {
			return false
		}
	}
	return true
}

func (ps *principals) match(p Principal) bool {
	if ps.Any {
		return true
	}
	if p.User == "" {
		return false
	}
	if ps.Account {
		return true
	}
	for _, u := range ps.Users {
		if u == p.User {
			return true
		}
	}
	return false
}

// fixedKeys are the condition keys that, tested with a fixed value, keep
// a statement open to everyone from being public (AWS's "The meaning of
// public": a source address, network, account or organisation).
var fixedKeys = map[string]bool{
	"aws:sourceip": true, "aws:sourcevpc": true, "aws:sourcevpce": true, "aws:sourcearn": true,
	"aws:sourceaccount": true, "aws:sourceowner": true, "aws:principalorgid": true, "aws:principalaccount": true,
	"aws:principalarn": true, "aws:userid": true, "aws:username": true, "aws:sourceorgid": true,
	"aws:principalorgpaths": true, "aws:sourceorgpaths": true, "s3:dataaccesspointarn": true,
	"s3:dataaccesspointaccount": true, "aws:vpcsourceip": true,
}

// IsPublic tells whether the policy is public as S3's
// GetBucketPolicyStatus defines it: an Allow statement grants something
// to everyone ("*") without a condition that pins the caller to fixed
// values (source addresses other than all of them, accounts, ARNs,
// networks). A Referer or a time window does not make a policy private.
func (p *Policy) IsPublic() bool {
	if p == nil {
		return false
	}
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.Deny {
			continue
		}
		open := st.NotPrin || st.Principals.Any
		if !open {
			continue
		}
		pinned := false
		for _, c := range st.Conditions {
			if !fixedKeys[c.key] || c.negated || c.ifExists || c.op == "Null" || c.set == "all" {
				continue
			}
			wild := false
			for _, v := range c.values {
				if strings.ContainsAny(v, "*?") && (c.op == "StringLike" || strings.HasPrefix(c.op, "Arn")) {
					wild = true
				}
			}
			for _, n := range c.nets {
				if n.Bits() == 0 {
					wild = true
				}
			}
			if !wild {
				pinned = true
			}
		}
		if !pinned {
			return true
		}
	}
	return false
}
