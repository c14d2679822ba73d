package sigv4

import (
	"fmt"
	"net/http"
)

// Error is a refusal the gateway renders as S3 error XML. Code and Status are
// S3's own, so that clients (which branch on the code, e.g. to retry after
// RequestTimeTooSkewed with a corrected clock) behave as they do against AWS.
type Error struct {
	Code    string
	Status  int
	Message string
	// Extra holds the additional elements AWS puts in the error document
	// for this code (StringToSign, RequestTime, ...), in document order.
	Extra []Field
}

// Field is one extra element of an S3 error document.
type Field struct{ Name, Value string }

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// Codes, exactly as S3 spells them.
const (
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeAccessDenied                      = "AccessDenied"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeMissingSecurityHeader             = "MissingSecurityHeader"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeBadDigest                         = "BadDigest"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeInvalidDigest                     = "InvalidDigest"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeMissingContentLength              = "MissingContentLength"
	CodeNotImplemented                    = "NotImplemented"
)

// statusOf is the one table from code to HTTP status.
var statusOf = map[string]int{
	CodeSignatureDoesNotMatch:             http.StatusForbidden,
	CodeAccessDenied:                      http.StatusForbidden,
	CodeInvalidAccessKeyID:                http.StatusForbidden,
	CodeRequestTimeTooSkewed:              http.StatusForbidden,
	CodeAuthorizationHeaderMalformed:      http.StatusBadRequest,
	CodeAuthorizationQueryParametersError: http.StatusBadRequest,
	CodeMissingSecurityHeader:             http.StatusBadRequest,
	CodeInvalidRequest:                    http.StatusBadRequest,
	CodeBadDigest:                         http.StatusBadRequest,
	CodeXAmzContentSHA256Mismatch:         http.StatusBadRequest,
	CodeIncompleteBody:                    http.StatusBadRequest,
	CodeInvalidDigest:                     http.StatusBadRequest,
	CodeInvalidArgument:                   http.StatusBadRequest,
	CodeMissingContentLength:              http.StatusLengthRequired,
	CodeNotImplemented:                    http.StatusNotImplemented,
}

func newErrorf(code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...))
}

func newError(code, msg string) *Error {
	st, ok := statusOf[code]
	if !ok {
		panic("sigv4: code without status: " + code)
	}
	return &Error{Code: code, Status: st, Message: msg}
}

func (e *Error) with(name, value string) *Error {
	e.Extra = append(e.Extra, Field{name, value})
	return e
}

// Messages S3 uses verbatim; clients and people search for them.
const (
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgUnknownAccessKey  = "The AWS Access Key Id you provided does not exist in our records."
	msgTooSkewed         = "The difference between the request time and the current time is too large."
	msgUnsignedHeaders   = "There were headers present in the request which were not signed"
	msgExpired           = "Request has expired"
	msgNotYetValid       = "Request is not valid yet"
	msgNeedDate          = "AWS authentication requires a valid Date or x-amz-date header"
	msgIncompleteBody    = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgSHA256Mismatch    = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgBadContentSHA256  = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
	msgOneAuthMechanism  = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
)

func errSignatureMismatch() *Error { return newError(CodeSignatureDoesNotMatch, msgSignatureMismatch) }

func errMalformedChunk(format string, args ...any) *Error {
	return newErrorf(CodeInvalidRequest, "Malformed aws-chunked body: "+format, args...)
}
