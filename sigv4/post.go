package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// Browser POST uploads (S3's "POST Object") carry their credentials in the
// form, not in headers: the base64 policy document is the string to sign.
//
//	SigV4: x-amz-algorithm, x-amz-credential, x-amz-date, policy,
//	       x-amz-signature = hex(HMAC-SHA256(SigningKey(day, region, s3), policy))
//	SigV2: AWSAccessKeyId, policy,
//	       signature = base64(HMAC-SHA1(secret, policy))
//
// A form with none of these fields is anonymous (a policy alone does not
// make it signed, as S3 answers). Field names are case-insensitive.

// PostField looks a form field up by name, case-insensitively.
type PostField func(name string) (string, bool)

// postV4Fields and postV2Fields are the signature fields in the order S3
// names the first missing one.
var (
	postV4Fields = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy"}
	postV2Fields = []string{"AWSAccessKeyId", "Signature", "Policy"}
)

func errPostArgument(msg, name, value string) *Error {
	return newError(s3err.InvalidArgument, msg).with("ArgumentName", name).with("ArgumentValue", value)
}

// errPostMissing is S3's answer to a form without one of the fields a
// signed POST needs (two spaces after the first sentence, as S3 writes it).
func errPostMissing(name string) *Error {
	return errPostArgument("Bucket POST must contain a field named '"+name+"'.  If it is specified, please check the order of the fields.", name, "")
}

// VerifyPost authenticates a POST form. The result is anonymous when the
// form carries no signature fields; whether that may write is the caller's
// decision, as is the policy's content (checked after this, on the policy
// text this verified).
func (v *Verifier) VerifyPost(field PostField) (*Result, error) {
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := field(n); ok {
				return true
			}
		}
		return false
	}
	switch {
	case has(postV4Fields[:4]...):
		return v.verifyPostV4(field)
	case has("AWSAccessKeyId", "Signature"):
		return v.verifyPostV2(field)
	}
	return &Result{Kind: AuthAnonymous, Anonymous: true}, nil
}

// need returns the values of names, or S3's answer naming the first missing.
func need(field PostField, names []string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		v, ok := field(n)
		if !ok || v == "" {
			return nil, errPostMissing(n)
		}
		out[i] = v
	}
	return out, nil
}

func (v *Verifier) verifyPostV4(field PostField) (*Result, error) {
	vals, err := need(field, postV4Fields)
	if err != nil {
		return nil, err
	}
	alg, credText, amzDate, sig, policy := vals[0], vals[1], vals[2], vals[3], vals[4]
	if alg != algorithmV4 {
		return nil, errPostArgument("X-Amz-Algorithm only supports \""+algorithmV4+"\"", "X-Amz-Algorithm", alg)
	}
	cred, msg := parseCredential(credText)
	if msg != "" {
		return nil, errPostArgument(msg, "X-Amz-Credential", credText)
	}
	if e := v.checkRegion(cred.region, func(m string) *Error { return errPostArgument(m, "X-Amz-Credential", credText) }); e != nil {
		return nil, e
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, errPostArgument("X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date", amzDate)
	}
	secret, err := v.secret(cred.accessKey)
	if err != nil {
		return nil, err
	}
	key := SigningKey(secret, cred.date, cred.region, cred.service)
	want := hex.EncodeToString(hmacSHA256(key, policy))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		return nil, errPostMismatch(cred.accessKey, policy, sig)
	}
	return &Result{Kind: AuthV4Post, AccessKey: cred.accessKey, Signature: sig, Time: t,
		SigningKey: key, Scope: cred.scope(), AmzDate: amzDate, Region: cred.region, Service: cred.service}, nil
}

func (v *Verifier) verifyPostV2(field PostField) (*Result, error) {
	vals, err := need(field, postV2Fields)
	if err != nil {
		return nil, err
	}
	ak, sig, policy := vals[0], vals[1], vals[2]
	secret, err := v.secret(ak)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(policy))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return nil, errPostMismatch(ak, policy, sig)
	}
	return &Result{Kind: AuthV2Post, AccessKey: ak, Signature: sig}, nil
}

// errPostMismatch carries what S3 puts in a POST's SignatureDoesNotMatch:
// the string to sign is the policy as sent, and its bytes in hex.
func errPostMismatch(ak, policy, provided string) *Error {
	var b strings.Builder
	for i := 0; i < len(policy); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(hex.EncodeToString([]byte{policy[i]}))
	}
	return errSignatureMismatch().
		with("AWSAccessKeyId", ak).
		with("StringToSign", policy).
		with("SignatureProvided", provided).
		with("StringToSignBytes", b.String())
}
