package lifecycle

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tnv-s3/tnv/s3err"
)

// Checks of a rule's Filter (and of V1 prefixes).

func checkPrefix(p string) error {
	if len(p) > MaxPrefix {
		return fail(s3err.InvalidRequest, "The maximum size of a prefix is %d.", MaxPrefix)
	}
	return nil
}

func (x *FilterXML) check() (Filter, error) {
	f := Filter{SizeGreater: -1, SizeLess: -1}
	if len(x.Unknown) > 0 {
		return f, malformed()
	}
	n := 0
	if x.Prefix != nil {
		n++
	}
	if x.Tag != nil {
		n++
	}
	if x.ObjectSizeGreaterThan != nil {
		n++
	}
	if x.ObjectSizeLessThan != nil {
		n++
	}
	if x.And != nil {
		n++
	}
	if n > 1 {
		return f, malformed()
	}
	var err error
	switch {
	case x.Prefix != nil:
		err = checkPrefix(*x.Prefix)
		f.Prefix = *x.Prefix
	case x.Tag != nil:
		var t Tag
		if t, err = x.Tag.check(); err == nil {
			f.Tags = []Tag{t}
		}
	case x.ObjectSizeGreaterThan != nil:
		f.SizeGreater, err = greater(*x.ObjectSizeGreaterThan)
	case x.ObjectSizeLessThan != nil:
		f.SizeLess, err = less(*x.ObjectSizeLessThan)
	case x.And != nil:
		err = x.And.check(&f)
	}
	if err != nil {
		return f, err
	}
	f.usesTags = len(f.Tags) > 0
	f.usesSizes = f.SizeGreater >= 0 || f.SizeLess >= 0
	return f, nil
}

func greater(s string) (int64, error) {
	n, err := size(s)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > MaxSize {
		return 0, fail(s3err.InvalidRequest, "'ObjectSizeGreaterThan' should be between 0 and %d.", int64(MaxSize))
	}
	return n, nil
}

func less(s string) (int64, error) {
	n, err := size(s)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > MaxSize {
		return 0, fail(s3err.InvalidRequest, "'ObjectSizeLessThan' should be between 1 and %d.", int64(MaxSize))
	}
	return n, nil
}

func (a *AndXML) check(f *Filter) error {
	if len(a.Unknown) > 0 {
		return malformed()
	}
	n := len(a.Tags)
	if a.Prefix != nil {
		n++
	}
	if a.ObjectSizeGreaterThan != nil {
		n++
	}
	if a.ObjectSizeLessThan != nil {
		n++
	}
	if n < 2 { // And joins two or more predicates
		return malformed()
	}
	if a.Prefix != nil {
		if err := checkPrefix(*a.Prefix); err != nil {
			return err
		}
		f.Prefix = *a.Prefix
	}
	if len(a.Tags) > MaxFilterTags {
		return fail(s3err.InvalidArgument, "Object tags cannot be greater than %d", MaxFilterTags)
	}
	seen := map[string]bool{}
	for _, tx := range a.Tags {
		t, err := tx.check()
		if err != nil {
			return err
		}
		if seen[t.Key] {
			return fail(s3err.InvalidRequest, "Duplicate Tag Keys are not allowed.")
		}
		seen[t.Key] = true
		f.Tags = append(f.Tags, t)
	}
	var err error
	if a.ObjectSizeGreaterThan != nil {
		if f.SizeGreater, err = greater(*a.ObjectSizeGreaterThan); err != nil {
			return err
		}
	}
	if a.ObjectSizeLessThan != nil {
		if f.SizeLess, err = less(*a.ObjectSizeLessThan); err != nil {
			return err
		}
	}
	if f.SizeGreater >= 0 && f.SizeLess >= 0 && f.SizeLess <= f.SizeGreater {
		return fail(s3err.InvalidRequest, "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.")
	}
	return nil
}

func (x *TagXML) check() (Tag, error) {
	if len(x.Unknown) > 0 || x.Key == nil || *x.Key == "" || x.Value == nil {
		return Tag{}, malformed()
	}
	t := Tag{Key: *x.Key, Value: *x.Value}
	switch {
	case !utf8.ValidString(t.Key) || !utf8.ValidString(t.Value):
		return t, malformed()
	case utf8.RuneCountInString(t.Key) > MaxTagKey:
		return t, fail(s3err.InvalidRequest, "The TagKey you have provided is too long, max %d", MaxTagKey)
	case utf8.RuneCountInString(t.Value) > MaxTagValue:
		return t, fail(s3err.InvalidRequest, "The TagValue you have provided is too long, max %d", MaxTagValue)
	}
	return t, nil
}

// overlapping applies V1's rule: no two rules whose prefixes overlap (one
// begins the other) may take the same kind of action.
func (c *Configuration) overlapping() error {
	kinds := []struct {
		name  string
		takes func(*RuleXML) bool
	}{
		{"Expiration", func(r *RuleXML) bool { return r.Expiration != nil }},
		{"Transition", func(r *RuleXML) bool { return len(r.Transitions) > 0 }},
		{"NoncurrentVersionTransition", func(r *RuleXML) bool { return len(r.NoncurrentVersionTransitions) > 0 }},
		{"NoncurrentVersionExpiration", func(r *RuleXML) bool { return r.NoncurrentVersionExpiration != nil }},
		{"AbortIncompleteMultipartUpload", func(r *RuleXML) bool { return r.AbortIncompleteMultipartUpload != nil }},
	}
	for _, k := range kinds {
		var ps []string
		for i := range c.Rules {
			if r := &c.Rules[i]; k.takes(r) && r.Prefix != nil {
				ps = append(ps, *r.Prefix)
			}
		}
		sort.Strings(ps)
		// In sorted order, a prefix that begins another begins the next.
		for i := 1; i < len(ps); i++ {
			if strings.HasPrefix(ps[i], ps[i-1]) {
				return fail(s3err.InvalidRequest, "Found overlapping prefixes '%s' and '%s' for same action type '%s'", ps[i-1], ps[i], k.name)
			}
		}
	}
	return nil
}
