package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// The policy document of a browser POST upload: a base64 JSON object with
// an "expiration" (ISO 8601, UTC) and "conditions" every form field must
// meet. The messages are S3's own ("Invalid Policy: …" for a document it
// cannot read, 400 InvalidPolicyDocument; "Invalid according to Policy: …"
// for a form the document refuses, 403 AccessDenied).

// maxPolicySize bounds the decoded document; the whole of the form before
// the file is limited to maxPostPreData anyway.
const maxPolicySize = 20 << 10

type postPolicy struct {
	expiration time.Time
	conds      []postCond
}

// postCond is one condition. field is the lower-case field name without
// its "$"; text is the condition as S3 prints it in a refusal.
type postCond struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string
	value    string
	noDollar bool // ["eq", "key", …]: names no field, never met
	min, max int64
	badRange bool // content-length-range with operands that are not numbers: never met
	text     string
}

func errPolicy(format string, args ...any) *s3Error {
	return errMsg(s3err.InvalidPolicyDocument, "Invalid Policy: "+format, args...)
}

var errPolicyJSON = errPolicy("Invalid JSON.")

// parsePostPolicy decodes and parses the policy field as sent.
func parsePostPolicy(b64 string) (*postPolicy, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errPolicy("invalid Base64 encoding.")
	}
	if len(raw) > maxPolicySize {
		return nil, errPolicy("Policy document is too large.")
	}
	return parsePolicyJSON(raw)
}

func parsePolicyJSON(raw []byte) (*postPolicy, error) {
	var top map[string]json.RawMessage
	if err := strictJSON(raw, &top); err != nil || top == nil {
		return nil, errPolicyJSON
	}
	for k := range top {
		if k != "expiration" && k != "conditions" {
			return nil, errPolicy("Unexpected: '%s'.", strings.ToLower(k))
		}
	}
	expRaw, ok := top["expiration"]
	if !ok {
		return nil, errPolicy("Policy missing expiration.")
	}
	condRaw, ok := top["conditions"]
	if !ok {
		return nil, errPolicy("Policy missing conditions.")
	}
	var exp string
	if err := strictJSON(expRaw, &exp); err != nil {
		return nil, errPolicy("Invalid 'expiration' value: '%s'", clipText(string(expRaw)))
	}
	p := &postPolicy{}
	var ok2 bool
	if p.expiration, ok2 = parseExpiration(exp); !ok2 {
		return nil, errPolicy("Invalid 'expiration' value: '%s'", clipText(exp))
	}
	var conds []json.RawMessage
	if err := strictJSON(condRaw, &conds); err != nil || conds == nil {
		return nil, errPolicy("Invalid 'conditions' value: must be a List.")
	}
	for _, c := range conds {
		pc, err := parseCondition(c)
		if err != nil {
			return nil, err
		}
		p.conds = append(p.conds, pc)
	}
	return p, nil
}

// strictJSON decodes one JSON value with numbers kept as text, refusing
// anything after it.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	if _, err := d.Token(); err == nil {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// parseExpiration accepts what S3 does: UTC with a Z, with or without
// fractional seconds.
func parseExpiration(s string) (time.Time, bool) {
	if !strings.HasSuffix(s, "Z") || strings.Contains(s, " ") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func clipText(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

func parseCondition(raw json.RawMessage) (postCond, error) {
	var pc postCond
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return pc, errPolicyJSON
	}
	switch trimmed[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := strictJSON(raw, &m); err != nil {
			return pc, errPolicyJSON
		}
		if len(m) != 1 {
			return pc, errPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for name, v := range m {
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				return pc, errPolicyJSON
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return pc, errPolicy("Invalid Simple-Condition: value must be a string.")
			}
			pc = postCond{op: "eq", field: strings.ToLower(name), value: s}
			pc.text = condText("eq", "$"+name, s)
		}
		return pc, nil
	case '[':
	default:
		return pc, errPolicy("Invalid condition test: must be a List or Object.")
	}
	var items []json.RawMessage
	if err := strictJSON(raw, &items); err != nil {
		return pc, errPolicyJSON
	}
	if len(items) == 0 {
		return pc, errPolicy("Invalid Condition: missing operation identifier.")
	}
	var op string
	if err := json.Unmarshal(items[0], &op); err != nil {
		return pc, errPolicyJSON
	}
	lop := strings.ToLower(op)
	switch lop {
	case "eq", "starts-with":
		if len(items) != 3 {
			return pc, errPolicy("Invalid %s: wrong number of arguments.", op)
		}
		var name, value string
		if json.Unmarshal(items[1], &name) != nil || json.Unmarshal(items[2], &value) != nil {
			return pc, errPolicyJSON
		}
		pc = postCond{op: lop, value: value, text: condText(op, name, value)}
		if f, ok := strings.CutPrefix(name, "$"); ok {
			pc.field = strings.ToLower(f)
		} else {
			pc.noDollar = true
		}
		return pc, nil
	case "content-length-range":
		if len(items) != 3 {
			return pc, errPolicy("Invalid %s: wrong number of arguments.", op)
		}
		pc = postCond{op: lop}
		var texts [2]string
		var vals [2]int64
		for i, it := range items[1:] {
			n, text, err := rangeOperand(it)
			if err != nil {
				return pc, err
			}
			texts[i], vals[i] = text, n
			if n < 0 {
				pc.badRange = true
			}
		}
		pc.min, pc.max = vals[0], vals[1]
		pc.text = `["` + op + `", ` + texts[0] + `, ` + texts[1] + `]`
		return pc, nil
	}
	return pc, errPolicy("Invalid Condition: unknown operation '%s'.", op)
}

// rangeOperand reads a content-length-range bound: an integer, or a string
// holding one (S3 accepts "5"). A fraction is not JSON to S3; a string that
// is not a number makes the condition fail (n = -1).
func rangeOperand(raw json.RawMessage) (int64, string, error) {
	t := strings.TrimSpace(string(raw))
	if strings.HasPrefix(t, `"`) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, "", errPolicyJSON
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return -1, t, nil
		}
		return n, t, nil
	}
	var num json.Number
	if json.Unmarshal(raw, &num) != nil || strings.ContainsAny(t, ".eE") {
		return 0, "", errPolicyJSON
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, "", errPolicyJSON
	}
	if n < 0 {
		return 0, "", errPolicy("Invalid content-length-range: bounds must not be negative.")
	}
	return n, t, nil
}

// condText prints a condition as S3 does in "Policy Condition failed".
func condText(op, name, value string) string {
	return "[" + jsonString(op) + ", " + jsonString(name) + ", " + jsonString(value) + "]"
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimRight(b.String(), "\n")
}

func errPolicyDenied(format string, args ...any) *s3Error {
	return errMsg(s3err.AccessDenied, "Invalid according to Policy: "+format, args...)
}

// postExempt are the fields no condition needs to name.
func postExempt(lname string) bool {
	switch lname {
	case "x-amz-signature", "file", "policy", "awsaccesskeyid", "signature":
		return true
	}
	return strings.HasPrefix(lname, "x-ignore-")
}

// check applies the policy to a form at now: expiration, each condition
// in order, then the fields no condition names. bucket is the request's
// bucket (the value of "$bucket"). It returns the size range the file must
// be in (content-length-range, every one of them met).
func (p *postPolicy) check(f *postForm, bucket string, now time.Time) (minSize, maxSize int64, err error) {
	if now.After(p.expiration) {
		return 0, 0, errPolicyDenied("Policy expired.")
	}
	minSize, maxSize = 0, MaxPutSize
	named := map[string]bool{}
	for _, c := range p.conds {
		if c.op == "content-length-range" {
			if c.badRange {
				return 0, 0, errPolicyDenied("Policy Condition failed: %s", c.text)
			}
			minSize, maxSize = max(minSize, c.min), min(maxSize, c.max)
			continue
		}
		named[c.field] = true
		var v string
		var ok bool
		if c.field == "bucket" {
			v, ok = bucket, true
		} else {
			v, ok = f.value(c.field)
		}
		if c.noDollar || !ok || !c.met(v) {
			return 0, 0, errPolicyDenied("Policy Condition failed: %s", c.text)
		}
	}
	var extra []string
	for _, name := range f.names {
		l := strings.ToLower(name)
		if !named[l] && !postExempt(l) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		return 0, 0, errPolicyDenied("Extra input fields: %s", strings.Join(extra, ", "))
	}
	return minSize, maxSize, nil
}

// met applies an eq or starts-with condition to a field's value. A
// Content-Type with commas is a list whose every entry must match.
func (c *postCond) met(v string) bool {
	if c.op == "eq" {
		return v == c.value
	}
	if c.field == "content-type" && strings.Contains(v, ",") {
		for _, e := range strings.Split(v, ",") {
			if !strings.HasPrefix(strings.TrimSpace(e), c.value) {
				return false
			}
		}
		return true
	}
	return strings.HasPrefix(v, c.value)
}
