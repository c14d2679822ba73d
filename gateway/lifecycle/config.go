// Package lifecycle is S3's bucket lifecycle configuration: the
// LifecycleConfiguration document (parsed and checked as AWS checks it,
// with AWS's error codes and messages) and the rules' evaluation, a pure
// function from a rule set and what is known of an object to the action
// due. The gateway stores the document and runs the background pass that
// applies it (gateway/lifecycle_pass.go).
package lifecycle

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tnv-s3/tnv/s3err"
)

// Limits AWS sets on a configuration.
const (
	MaxRules    = 1000
	MaxIDLen    = 255
	MaxPrefix   = 1024 // bytes, the longest key
	MaxTagKey   = 128  // characters
	MaxTagValue = 256
	// MaxFilterTags is the most tags an And names: an object holds at most
	// 10, so a filter asking for more matches nothing.
	MaxFilterTags = 10
	// MaxSize bounds ObjectSizeGreaterThan and ObjectSizeLessThan.
	MaxSize = 1099511627776000
)

// Error is a refusal of a configuration, with AWS's code and message.
type Error struct {
	Code    s3err.Code
	Message string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

func fail(code s3err.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func malformed() *Error {
	return &Error{Code: s3err.MalformedXML, Message: s3err.MalformedXML.Message()}
}

// Configuration is the LifecycleConfiguration document, as sent and as
// answered. Numbers and dates are kept as text so that what is not one is
// MalformedXML (as AWS's schema check answers) rather than a zero.
type Configuration struct {
	XMLName xml.Name  `xml:"LifecycleConfiguration"`
	Xmlns   string    `xml:"xmlns,attr,omitempty"`
	Rules   []RuleXML `xml:"Rule"`
	Unknown []unknown `xml:",any"`
}

// RuleXML is one Rule element.
type RuleXML struct {
	ID                             *string                         `xml:"ID"`
	Filter                         *FilterXML                      `xml:"Filter"`
	Prefix                         *string                         `xml:"Prefix"` // the legacy (V1) form
	Status                         string                          `xml:"Status"`
	Expiration                     *ExpirationXML                  `xml:"Expiration"`
	Transitions                    []unknown                       `xml:"Transition"`
	NoncurrentVersionTransitions   []unknown                       `xml:"NoncurrentVersionTransition"`
	NoncurrentVersionExpiration    *NoncurrentVersionExpirationXML `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *AbortXML                       `xml:"AbortIncompleteMultipartUpload"`
	Unknown                        []unknown                       `xml:",any"`
}

// FilterXML is a rule's Filter: nothing (every object) or one predicate.
type FilterXML struct {
	Prefix                *string   `xml:"Prefix"`
	Tag                   *TagXML   `xml:"Tag"`
	ObjectSizeGreaterThan *string   `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *string   `xml:"ObjectSizeLessThan"`
	And                   *AndXML   `xml:"And"`
	Unknown               []unknown `xml:",any"`
}

// AndXML joins two or more predicates.
type AndXML struct {
	Prefix                *string   `xml:"Prefix"`
	Tags                  []TagXML  `xml:"Tag"`
	ObjectSizeGreaterThan *string   `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *string   `xml:"ObjectSizeLessThan"`
	Unknown               []unknown `xml:",any"`
}

// TagXML is a Tag of a filter.
type TagXML struct {
	Key     *string   `xml:"Key"`
	Value   *string   `xml:"Value"`
	Unknown []unknown `xml:",any"`
}

// ExpirationXML is a rule's Expiration.
type ExpirationXML struct {
	Days                      *string   `xml:"Days"`
	Date                      *string   `xml:"Date"`
	ExpiredObjectDeleteMarker *string   `xml:"ExpiredObjectDeleteMarker"`
	Unknown                   []unknown `xml:",any"`
}

// NoncurrentVersionExpirationXML is a rule's NoncurrentVersionExpiration.
type NoncurrentVersionExpirationXML struct {
	NoncurrentDays          *string   `xml:"NoncurrentDays"`
	NewerNoncurrentVersions *string   `xml:"NewerNoncurrentVersions"`
	Unknown                 []unknown `xml:",any"`
}

// AbortXML is a rule's AbortIncompleteMultipartUpload.
type AbortXML struct {
	DaysAfterInitiation *string   `xml:"DaysAfterInitiation"`
	Unknown             []unknown `xml:",any"`
}

// unknown is an element the schema does not have (or one this gateway
// refuses after checking the rest, a Transition).
type unknown struct {
	XMLName xml.Name
}

// Tag is a tag a filter asks for.
type Tag struct{ Key, Value string }

// Rule is a checked rule, ready for evaluation.
type Rule struct {
	ID      string
	Enabled bool
	Filter  Filter

	ExpireDays   int       // > 0: expire current versions this many days after creation
	ExpireDate   time.Time // non-zero: expire current versions on this day (midnight UTC)
	ExpireMarker bool      // ExpiredObjectDeleteMarker true

	NoncurrentDays  int // > 0: delete noncurrent versions this many days after they became noncurrent
	NewerNoncurrent int // > 0: ...but keep this many newest noncurrent versions

	AbortDays int // > 0: abort multipart uploads this many days after initiation
}

// Filter is what objects a rule applies to; the zero Filter is every one.
type Filter struct {
	Prefix      string
	Tags        []Tag
	SizeGreater int64 // -1: no lower bound
	SizeLess    int64 // -1: no upper bound
	usesTags    bool
	usesSizes   bool
}

// Parsed is a checked configuration: the document to store and answer
// (with IDs given to rules that had none, dates in one form) and its rules.
type Parsed struct {
	Doc   []byte
	Rules []Rule
}

// Parse parses and checks a PutBucketLifecycleConfiguration body. The
// first fault found is the answer, in the order AWS checks: the document,
// the rules' number and IDs, each rule, the prefixes of a V1
// configuration, and last the transitions this gateway does not take.
func Parse(b []byte) (*Parsed, error) {
	var c Configuration
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, malformed()
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&c); err != nil {
		return nil, malformed()
	}
	// Nothing but space (and comments) may follow the document.
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed()
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, malformed()
			}
		case xml.Comment, xml.ProcInst:
		default:
			return nil, malformed()
		}
	}
	rules, err := c.check()
	if err != nil {
		return nil, err
	}
	c.Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
	out, err := xml.Marshal(&c)
	if err != nil {
		return nil, err
	}
	return &Parsed{Doc: out, Rules: rules}, nil
}

// Rules reads back a stored document (one Parse made).
func Rules(doc []byte) ([]Rule, error) {
	p, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	return p.Rules, nil
}

func (c *Configuration) check() ([]Rule, error) {
	if len(c.Unknown) > 0 {
		return nil, malformed()
	}
	if len(c.Rules) == 0 {
		return nil, fail(s3err.InvalidRequest, "At least one lifecycle rule must be specified.")
	}
	if len(c.Rules) > MaxRules {
		return nil, fail(s3err.InvalidRequest, "The number of lifecycle rules must not exceed the allowed limit of %d rules.", MaxRules)
	}
	ids := map[string]bool{}
	for _, r := range c.Rules {
		if r.ID == nil || *r.ID == "" {
			continue
		}
		if utf8.RuneCountInString(*r.ID) > MaxIDLen {
			return nil, fail(s3err.InvalidArgument, "ID length should not exceed allowed limit of %d", MaxIDLen)
		}
		if ids[*r.ID] {
			return nil, fail(s3err.InvalidArgument, "Rule ID must be unique. Found same ID for more than one rule")
		}
		ids[*r.ID] = true
	}
	v2 := c.Rules[0].Filter != nil
	rules := make([]Rule, len(c.Rules))
	for i := range c.Rules {
		r, err := c.Rules[i].check(v2)
		if err != nil {
			return nil, err
		}
		rules[i] = r
	}
	if !v2 {
		if err := c.overlapping(); err != nil {
			return nil, err
		}
	}
	for _, r := range c.Rules {
		if len(r.Transitions) > 0 || len(r.NoncurrentVersionTransitions) > 0 {
			return nil, fail(s3err.NotImplemented, "Lifecycle transitions are not implemented by this gateway: it has one storage class.")
		}
	}
	// A rule without an ID gets one, as AWS gives it.
	for i := range c.Rules {
		if c.Rules[i].ID == nil || *c.Rules[i].ID == "" {
			id := newID(ids)
			c.Rules[i].ID = &id
			rules[i].ID = id
		}
	}
	return rules, nil
}

// newID is a random rule ID not in taken (which it joins).
func newID(taken map[string]bool) string {
	for {
		b := make([]byte, 24)
		rand.Read(b)
		id := base64.RawStdEncoding.EncodeToString(b)
		if !taken[id] {
			taken[id] = true
			return id
		}
	}
}

func (r *RuleXML) check(v2 bool) (Rule, error) {
	out := Rule{Filter: Filter{SizeGreater: -1, SizeLess: -1}}
	if r.ID != nil {
		out.ID = *r.ID
	}
	if len(r.Unknown) > 0 {
		return out, malformed()
	}
	switch r.Status {
	case "Enabled":
		out.Enabled = true
	case "Disabled":
	default:
		return out, malformed()
	}
	switch {
	case r.Prefix == nil && r.Filter == nil:
		return out, malformed()
	case r.Prefix != nil && r.Filter != nil:
		return out, malformed()
	case r.Prefix != nil && v2:
		return out, fail(s3err.InvalidRequest, "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.")
	case r.Filter != nil && !v2:
		return out, fail(s3err.InvalidRequest, "Filter element can only be used in Lifecycle V2.")
	case r.Prefix != nil:
		if err := checkPrefix(*r.Prefix); err != nil {
			return out, err
		}
		out.Filter.Prefix = *r.Prefix
	default:
		f, err := r.Filter.check()
		if err != nil {
			return out, err
		}
		out.Filter = f
	}
	if r.Expiration == nil && r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil &&
		len(r.Transitions) == 0 && len(r.NoncurrentVersionTransitions) == 0 {
		return out, fail(s3err.InvalidRequest, "At least one action needs to be specified in a rule")
	}
	if e := r.Expiration; e != nil {
		if err := e.check(&out); err != nil {
			return out, err
		}
	}
	if n := r.NoncurrentVersionExpiration; n != nil {
		if len(n.Unknown) > 0 || n.NoncurrentDays == nil {
			return out, malformed()
		}
		days, err := number(*n.NoncurrentDays)
		if err != nil {
			return out, err
		}
		if days <= 0 {
			return out, fail(s3err.InvalidArgument, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
		}
		out.NoncurrentDays = days
		if n.NewerNoncurrentVersions != nil {
			if !v2 {
				return out, fail(s3err.InvalidRequest, "NewerNoncurrentVersions element can only be used in Lifecycle V2.")
			}
			newer, err := number(*n.NewerNoncurrentVersions)
			if err != nil {
				return out, err
			}
			if newer <= 0 {
				return out, fail(s3err.InvalidArgument, "'NewerNoncurrentVersions' must be a positive integer")
			}
			out.NewerNoncurrent = newer
		}
	}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		if len(a.Unknown) > 0 || a.DaysAfterInitiation == nil {
			return out, malformed()
		}
		days, err := number(*a.DaysAfterInitiation)
		if err != nil {
			return out, err
		}
		if days <= 0 {
			return out, fail(s3err.InvalidArgument, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
		}
		out.AbortDays = days
	}
	f := out.Filter
	switch {
	case out.ExpireMarker && f.usesTags:
		return out, fail(s3err.InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Tags.")
	case out.ExpireMarker && f.usesSizes:
		return out, fail(s3err.InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Object Size.")
	case out.AbortDays > 0 && f.usesTags:
		return out, fail(s3err.InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags.")
	case out.AbortDays > 0 && f.usesSizes:
		return out, fail(s3err.InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Object Size.")
	}
	return out, nil
}

func (e *ExpirationXML) check(out *Rule) error {
	if len(e.Unknown) > 0 {
		return malformed()
	}
	given := 0
	for _, p := range []*string{e.Days, e.Date, e.ExpiredObjectDeleteMarker} {
		if p != nil {
			given++
		}
	}
	if given != 1 {
		return malformed()
	}
	switch {
	case e.Days != nil:
		days, err := number(*e.Days)
		if err != nil {
			return err
		}
		if days <= 0 {
			return fail(s3err.InvalidArgument, "'Days' for Expiration action must be a positive integer")
		}
		out.ExpireDays = days
	case e.Date != nil:
		t, err := parseDate(*e.Date)
		if err != nil {
			return err
		}
		out.ExpireDate = t
		s := t.Format(DateFormat)
		e.Date = &s // answered in one form
	default:
		switch strings.TrimSpace(*e.ExpiredObjectDeleteMarker) {
		case "true":
			out.ExpireMarker = true
		case "false":
		default:
			return malformed()
		}
	}
	return nil
}

// DateFormat is how a Date is answered.
const DateFormat = "2006-01-02T15:04:05.000Z"

// parseDate reads an ISO 8601 date-time (or a bare date), which must be a
// midnight UTC.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	if len(s) == len("2006-01-02") {
		t, err = time.Parse("2006-01-02", s)
	} else {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, malformed()
	}
	if _, off := t.Zone(); off != 0 || t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
		return time.Time{}, fail(s3err.InvalidArgument, "'Date' must be at midnight GMT")
	}
	return t.UTC(), nil
}

// number reads an xsd:int; anything else does not validate.
func number(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, malformed()
	}
	return int(n), nil
}

func size(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, malformed()
	}
	return n, nil
}
