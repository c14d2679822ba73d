package policy

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// condition is one operator applied to one key: "StringLike":
// {"aws:Referer": ["https://example.com/*"]}.
type condition struct {
	op       string // the base operator: StringLike
	set      string // "", "any" (ForAnyValue:) or "all" (ForAllValues:)
	ifExists bool
	negated  bool
	key      string // lower case
	values   []string
	nums     []float64
	times    []time.Time
	nets     []netip.Prefix
	noVars   bool // version 2008-10-17: ${...} is literal
}

// operators are the base condition operators; negated ones match when
// their positive counterpart does not.
var operators = map[string]struct {
	negated bool
	typ     byte // s string, n numeric, d date, b bool, i ip, a arn, x binary, 0 null
}{
	"StringEquals": {false, 's'}, "StringNotEquals": {true, 's'},
	"StringEqualsIgnoreCase": {false, 's'}, "StringNotEqualsIgnoreCase": {true, 's'},
	"StringLike": {false, 's'}, "StringNotLike": {true, 's'},
	"NumericEquals": {false, 'n'}, "NumericNotEquals": {true, 'n'},
	"NumericLessThan": {false, 'n'}, "NumericLessThanEquals": {false, 'n'},
	"NumericGreaterThan": {false, 'n'}, "NumericGreaterThanEquals": {false, 'n'},
	"DateEquals": {false, 'd'}, "DateNotEquals": {true, 'd'},
	"DateLessThan": {false, 'd'}, "DateLessThanEquals": {false, 'd'},
	"DateGreaterThan": {false, 'd'}, "DateGreaterThanEquals": {false, 'd'},
	"Bool":      {false, 'b'},
	"IpAddress": {false, 'i'}, "NotIpAddress": {true, 'i'},
	"ArnEquals": {false, 'a'}, "ArnNotEquals": {true, 'a'}, "ArnLike": {false, 'a'}, "ArnNotLike": {true, 'a'},
	"BinaryEquals": {false, 'x'},
	"Null":         {false, '0'},
}

// Condition keys a bucket policy may test. Those the gateway never sets
// (aws:SourceVpc, s3:x-amz-server-side-encryption...) are accepted and
// are simply absent from every request, as they would be on AWS for a
// request that does not carry them.
var knownKeys = map[string]bool{}

// keyPrefixes are the keys with a name after a slash (aws:RequestTag/NAME).
var keyPrefixes = []string{"aws:requesttag/", "aws:resourcetag/", "aws:principaltag/", "s3:existingobjecttag/", "s3:requestobjecttag/"}

func init() {
	for _, k := range strings.Fields(`aws:SourceIp aws:Referer aws:SecureTransport aws:CurrentTime aws:EpochTime
		aws:UserAgent aws:username aws:userid aws:PrincipalType aws:PrincipalArn aws:PrincipalAccount
		aws:PrincipalOrgID aws:PrincipalOrgPaths aws:PrincipalIsAWSService aws:PrincipalServiceName
		aws:SourceVpc aws:SourceVpce aws:SourceArn aws:SourceAccount aws:SourceOwner aws:SourceOrgID
		aws:SourceOrgPaths aws:TokenIssueTime aws:MultiFactorAuthPresent aws:MultiFactorAuthAge
		aws:RequestedRegion aws:ViaAWSService aws:CalledVia aws:CalledViaFirst aws:CalledViaLast
		aws:TagKeys aws:ResourceAccount aws:ResourceOrgID aws:ResourceOrgPaths aws:VpcSourceIp
		aws:FederatedProvider aws:SourceIdentity aws:Ec2InstanceSourceVpc aws:Ec2InstanceSourcePrivateIPv4
		s3:prefix s3:delimiter s3:max-keys s3:x-amz-acl s3:x-amz-grant-read s3:x-amz-grant-write
		s3:x-amz-grant-read-acp s3:x-amz-grant-write-acp s3:x-amz-grant-full-control s3:x-amz-content-sha256
		s3:x-amz-copy-source s3:x-amz-metadata-directive s3:x-amz-server-side-encryption
		s3:x-amz-server-side-encryption-aws-kms-key-id s3:x-amz-server-side-encryption-customer-algorithm
		s3:x-amz-storage-class s3:x-amz-website-redirect-location s3:signatureversion s3:signatureAge
		s3:authType s3:TlsVersion s3:VersionId s3:LocationConstraint s3:RequestObjectTagKeys
		s3:object-lock-mode s3:object-lock-retain-until-date s3:object-lock-remaining-retention-days
		s3:object-lock-legal-hold s3:ResourceAccount s3:AccessPointNetworkOrigin s3:DataAccessPointAccount
		s3:DataAccessPointArn s3:x-amz-object-ownership s3:if-match s3:if-none-match s3:ObjectCreationOperation
		s3:x-amz-checksum-algorithm s3:InventoryAccessibleOptionalFields s3:x-amz-write-offset-bytes`) {
		knownKeys[strings.ToLower(k)] = true
	}
}

func knownKey(k string) bool {
	if knownKeys[k] {
		return true
	}
	for _, p := range keyPrefixes {
		if strings.HasPrefix(k, p) && len(k) > len(p) {
			return true
		}
	}
	return false
}

func parseConditions(raw json.RawMessage, vars bool) ([]condition, error) {
	ops, order, err := fields(raw, "Condition")
	if err != nil {
		return nil, malformed("Condition must be an object")
	}
	var out []condition
	for _, name := range order {
		c := condition{}
		base := name
		switch {
		case strings.HasPrefix(base, "ForAnyValue:"):
			c.set, base = "any", strings.TrimPrefix(base, "ForAnyValue:")
		case strings.HasPrefix(base, "ForAllValues:"):
			c.set, base = "all", strings.TrimPrefix(base, "ForAllValues:")
		}
		if b, ok := strings.CutSuffix(base, "IfExists"); ok && b != "Null" {
			c.ifExists, base = true, b
		}
		def, ok := operators[base]
		if !ok || (base == "Null" && (c.set != "" || c.ifExists)) {
			return nil, malformed("Invalid Condition type : %s", name)
		}
		c.op, c.negated = base, def.negated
		keys, korder, err := fields(ops[name], "Condition "+name)
		if err != nil {
			return nil, err
		}
		if len(korder) == 0 {
			return nil, malformed("Condition %s has no keys", name)
		}
		for _, k := range korder {
			cc := c
			cc.key = strings.ToLower(k)
			if !knownKey(cc.key) {
				return nil, malformed("Policy has an invalid condition key: %s", k)
			}
			if cc.values, err = conditionValues(keys[k], name, k); err != nil {
				return nil, err
			}
			if err := cc.parseValues(def.typ, vars); err != nil {
				return nil, err
			}
			out = append(out, cc)
		}
	}
	return out, nil
}

// conditionValues reads a condition's value: a string, number or bool, or
// an array of them.
func conditionValues(raw json.RawMessage, op, key string) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
			return nil, malformed("Invalid value for condition %s %s", op, key)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var out []string
	for _, it := range items {
		var v any
		if err := json.Unmarshal(it, &v); err != nil {
			return nil, malformed("Invalid value for condition %s %s", op, key)
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case bool:
			out = append(out, strconv.FormatBool(v))
		case float64:
			out = append(out, strings.TrimSpace(string(it)))
		default:
			return nil, malformed("Invalid value for condition %s %s: values are strings, numbers or booleans", op, key)
		}
	}
	return out, nil
}

func (c *condition) parseValues(typ byte, vars bool) error {
	for _, v := range c.values {
		switch typ {
		case 'n':
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return malformed("Invalid numeric value for %s %s: %q", c.op, c.key, v)
			}
			c.nums = append(c.nums, f)
		case 'd':
			t, ok := parseDate(v)
			if !ok {
				return malformed("Invalid date value for %s %s: %q", c.op, c.key, v)
			}
			c.times = append(c.times, t)
		case 'b', '0':
			if v != "true" && v != "false" {
				return malformed("Invalid boolean value for %s %s: %q", c.op, c.key, v)
			}
		case 'i':
			pf, err := parseNet(v)
			if err != nil {
				return malformed("Invalid IP address or CIDR for %s %s: %q", c.op, c.key, v)
			}
			c.nets = append(c.nets, pf)
		case 's', 'a':
			if vars {
				if err := checkVars(v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func parseNet(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseDate reads the date forms IAM accepts: ISO 8601 (with or without
// time, zone, fractions) and Unix epoch seconds.
func parseDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// checkVars refuses ${...} that names no condition key (policy variables,
// version 2012-10-17).
func checkVars(s string) error {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return malformed("Invalid policy variable in %q: no closing }", s)
		}
		name := s[i+2 : i+j]
		if name != "*" && name != "?" && name != "$" && !knownKey(strings.ToLower(name)) {
			return malformed("Invalid policy variable ${%s}", name)
		}
		s = s[i+j+1:]
	}
}

// expand substitutes policy variables; ok is false when one has no value
// in the request (the element then matches nothing).
func expand(s string, ctx map[string][]string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		switch name := s[i+2 : i+j]; name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			v := ctx[strings.ToLower(name)]
			if len(v) != 1 {
				return "", false
			}
			b.WriteString(v[0])
		}
		s = s[i+j+1:]
	}
}

// eval applies the condition to the request's context.
func (c *condition) eval(ctx map[string][]string) bool {
	vals, present := ctx[c.key]
	if c.op == "Null" {
		// "true": the key must be absent; "false": present.
		for _, v := range c.values {
			if (v == "true") == !present {
				return true
			}
		}
		return false
	}
	if !present || len(vals) == 0 {
		switch {
		case c.ifExists, c.set == "all":
			return true
		case c.set == "any":
			return false
		}
		return c.negated
	}
	one := func(v string) bool {
		m := c.matchAny(v, ctx)
		if c.negated {
			return !m
		}
		return m
	}
	switch c.set {
	case "all":
		for _, v := range vals {
			if !one(v) {
				return false
			}
		}
		return true
	case "any":
		for _, v := range vals {
			if one(v) {
				return true
			}
		}
		return false
	}
	if c.negated {
		// a single-valued key given several values: none may match
		for _, v := range vals {
			if !one(v) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if one(v) {
			return true
		}
	}
	return false
}

// matchAny tells whether the request's value v matches one of the
// condition's values under the positive form of the operator.
func (c *condition) matchAny(v string, ctx map[string][]string) bool {
	switch operators[c.op].typ {
	case 'n':
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		for _, n := range c.nums {
			if cmpOp(c.op, compare(f, n)) {
				return true
			}
		}
		return false
	case 'd':
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, d := range c.times {
			if cmpOp(c.op, t.Compare(d)) {
				return true
			}
		}
		return false
	case 'i':
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range c.nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	case 'b':
		for _, w := range c.values {
			if strings.EqualFold(v, w) {
				return true
			}
		}
		return false
	}
	for _, w := range c.values {
		if !c.noVars {
			var ok bool
			if w, ok = expand(w, ctx); !ok {
				continue
			}
		}
		switch c.op {
		case "StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals", "BinaryEquals":
			if c.op[0] == 'A' {
				if wildMatch(w, v) {
					return true
				}
			} else if v == w {
				return true
			}
		case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
			if strings.EqualFold(v, w) {
				return true
			}
		case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike":
			if wildMatch(w, v) {
				return true
			}
		}
	}
	return false
}

func compare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpOp applies a Numeric* or Date* operator to the result of comparing
// the request's value with the policy's.
func cmpOp(op string, c int) bool {
	switch {
	case strings.HasSuffix(op, "NotEquals"):
		return c == 0 // negated by the caller
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	}
	return c == 0
}
