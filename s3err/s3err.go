// Package s3err is the one set of S3 error codes the gateway and sigv4
// answer with, and the one table from code to HTTP status and default
// message.
//
// A Code is an integer, not a string, so that a misspelt code cannot
// compile: errCode("NoSuckKey") is a type error, s3err.NoSuckKey an
// undefined name. Its String (and its text and XML form) is the code
// exactly as S3 spells it.
package s3err

import "fmt"

// Code is one S3 error code.
type Code uint8

// The codes the gateway and sigv4 send. Add one here and to table together;
// TestEveryCodeHasStatusAndMessage fails otherwise.
const (
	invalid Code = iota // the zero Code is no code

	AccessDenied
	AccessForbidden
	AuthorizationHeaderMalformed
	AuthorizationQueryParametersError
	BadDigest
	BadRequest
	BucketAlreadyExists
	BucketAlreadyOwnedByYou
	BucketNotEmpty
	ConditionalRequestConflict
	EntityTooLarge
	EntityTooSmall
	IncompleteBody
	InternalError
	InvalidAccessKeyID
	InvalidArgument
	InvalidBucketName
	InvalidDigest
	InvalidEncryptionAlgorithmError
	InvalidPart
	InvalidPartNumber
	InvalidPartOrder
	InvalidPolicyDocument
	InvalidRange
	InvalidRequest
	InvalidTag
	InvalidURI
	KeyTooLongError
	MalformedPOSTRequest
	MalformedXML
	MaxPostPreDataLengthExceeded
	MetadataTooLarge
	MethodNotAllowed
	MissingContentLength
	NoSuchBucket
	NoSuchCORSConfiguration
	NoSuchKey
	NoSuchLifecycleConfiguration
	NoSuchTagSet
	NoSuchUpload
	NotImplemented
	NotModified
	PreconditionFailed
	RequestHeaderSectionTooLarge
	RequestTimeTooSkewed
	RequestTimeout
	ServerSideEncryptionConfigurationNotFoundError
	ServiceUnavailable
	SignatureDoesNotMatch
	SlowDown
	UserKeyMustBeSpecified
	XAmzContentSHA256Mismatch

	// Bucket policies and ACLs.
	AccessControlListNotSupported
	InvalidBucketAclWithObjectOwnership
	MalformedACLError
	MalformedPolicy
	MissingSecurityHeader
	NoSuchBucketPolicy
	OwnershipControlsNotFoundError
	UnresolvableGrantByEmailAddress

	// versioning and object lock
	IllegalVersioningConfigurationException
	InvalidBucketState
	NoSuchObjectLockConfiguration
	NoSuchVersion
	ObjectLockConfigurationNotFoundError

	numCodes // keep last
)

type entry struct {
	name   string
	status int
	msg    string
}

// table is the one place from code to its name, HTTP status and default
// message (AWS's own wording: clients and people search for it).
var table = [numCodes]entry{
	AccessDenied:                      {"AccessDenied", 403, "Access Denied"},
	AccessForbidden:                   {"AccessForbidden", 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."},
	AuthorizationHeaderMalformed:      {"AuthorizationHeaderMalformed", 400, "The authorization header is malformed."},
	AuthorizationQueryParametersError: {"AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter."},
	BadDigest:                         {"BadDigest", 400, "The Content-MD5 you specified did not match what we received."},
	BadRequest:                        {"BadRequest", 400, "Bad Request"},
	BucketAlreadyExists:               {"BucketAlreadyExists", 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	BucketAlreadyOwnedByYou:           {"BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it."},
	BucketNotEmpty:                    {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty"},
	ConditionalRequestConflict:        {"ConditionalRequestConflict", 409, "The conditional request cannot succeed due to a conflicting operation against this resource."},
	EntityTooLarge:                    {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."},
	EntityTooSmall:                    {"EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size."},
	IncompleteBody:                    {"IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	InternalError:                     {"InternalError", 500, "We encountered an internal error. Please try again."},
	InvalidAccessKeyID:                {"InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."},
	InvalidArgument:                   {"InvalidArgument", 400, "Invalid Argument"},
	InvalidBucketName:                 {"InvalidBucketName", 400, "The specified bucket is not valid."},
	InvalidDigest:                     {"InvalidDigest", 400, "The Content-MD5 you specified was invalid."},
	InvalidEncryptionAlgorithmError:   {"InvalidEncryptionAlgorithmError", 400, "The encryption request you specified is not valid. The valid value is AES256."},
	InvalidPart:                       {"InvalidPart", 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
	InvalidPartNumber:                 {"InvalidPartNumber", 416, "The requested partnumber is not satisfiable"},
	InvalidPartOrder:                  {"InvalidPartOrder", 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
	InvalidPolicyDocument:             {"InvalidPolicyDocument", 400, "The content of the form does not meet the conditions specified in the policy document."},
	InvalidRange:                      {"InvalidRange", 416, "The requested range is not satisfiable"},
	InvalidRequest:                    {"InvalidRequest", 400, "Invalid Request"},
	InvalidTag:                        {"InvalidTag", 400, "The tag provided was not a valid tag. This error can occur if the tag did not pass input validation."},
	InvalidURI:                        {"InvalidURI", 400, "Couldn't parse the specified URI."},
	KeyTooLongError:                   {"KeyTooLongError", 400, "Your key is too long"},
	MalformedPOSTRequest:              {"MalformedPOSTRequest", 400, "The body of your POST request is not well-formed multipart/form-data."},
	MalformedXML:                      {"MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema."},
	MaxPostPreDataLengthExceeded:      {"MaxPostPreDataLengthExceeded", 400, "Your POST request fields preceeding the upload file was too large."},
	MetadataTooLarge:                  {"MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size."},
	MethodNotAllowed:                  {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
	MissingContentLength:              {"MissingContentLength", 411, "You must provide the Content-Length HTTP header."},
	NoSuchBucket:                      {"NoSuchBucket", 404, "The specified bucket does not exist"},
	NoSuchCORSConfiguration:           {"NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"},
	NoSuchKey:                         {"NoSuchKey", 404, "The specified key does not exist."},
	NoSuchLifecycleConfiguration:      {"NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist"},
	NoSuchTagSet:                      {"NoSuchTagSet", 404, "The TagSet does not exist"},
	NoSuchUpload:                      {"NoSuchUpload", 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	NotImplemented:                    {"NotImplemented", 501, "A header you provided implies functionality that is not implemented"},
	NotModified:                       {"NotModified", 304, "Not Modified"},
	PreconditionFailed:                {"PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"},
	RequestHeaderSectionTooLarge:      {"RequestHeaderSectionTooLarge", 431, "Your request header section exceeds the maximum allowed size."},
	RequestTimeTooSkewed:              {"RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large."},
	RequestTimeout:                    {"RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period."},
	ServerSideEncryptionConfigurationNotFoundError: {"ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found"},
	ServiceUnavailable:        {"ServiceUnavailable", 503, "Service is unable to handle request."},
	SignatureDoesNotMatch:     {"SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	SlowDown:                  {"SlowDown", 503, "Please reduce your request rate."},
	UserKeyMustBeSpecified:    {"UserKeyMustBeSpecified", 400, "The bucket POST must contain the specified field name. If it is specified, please check the order of the fields."},
	XAmzContentSHA256Mismatch: {"XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed."},

	AccessControlListNotSupported:       {"AccessControlListNotSupported", 400, "The bucket does not allow ACLs"},
	InvalidBucketAclWithObjectOwnership: {"InvalidBucketAclWithObjectOwnership", 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"},
	MalformedACLError:                   {"MalformedACLError", 400, "The XML you provided was not well-formed or did not validate against our published schema"},
	MalformedPolicy:                     {"MalformedPolicy", 400, "Policies must be valid JSON and the first byte must be '{'"},
	MissingSecurityHeader:               {"MissingSecurityHeader", 400, "Your request was missing a required header"},
	NoSuchBucketPolicy:                  {"NoSuchBucketPolicy", 404, "The bucket policy does not exist"},
	OwnershipControlsNotFoundError:      {"OwnershipControlsNotFoundError", 404, "The bucket ownership controls were not found"},
	UnresolvableGrantByEmailAddress:     {"UnresolvableGrantByEmailAddress", 400, "The e-mail address you provided does not match any account on record."},

	// versioning and object lock
	IllegalVersioningConfigurationException: {"IllegalVersioningConfigurationException", 400, "The versioning configuration specified in the request is invalid."},
	InvalidBucketState:                      {"InvalidBucketState", 409, "The request is not valid with the current state of the bucket."},
	NoSuchObjectLockConfiguration:           {"NoSuchObjectLockConfiguration", 404, "The specified object does not have a ObjectLock configuration"},
	NoSuchVersion:                           {"NoSuchVersion", 404, "The specified version does not exist."},
	ObjectLockConfigurationNotFoundError:    {"ObjectLockConfigurationNotFoundError", 404, "Object Lock configuration does not exist for this bucket"},
}

// lookup returns c's entry; a Code outside the table (only an integer
// conversion can make one) reads as InternalError so that it never goes
// out as an empty code with status 0.
func (c Code) lookup() entry {
	if c == invalid || c >= numCodes {
		return table[InternalError]
	}
	return table[c]
}

// String is the code as S3 spells it ("NoSuchKey").
func (c Code) String() string {
	if c == invalid || c >= numCodes {
		return fmt.Sprintf("s3err.Code(%d)", uint8(c))
	}
	return table[c].name
}

// Status is the HTTP status S3 answers the code with.
func (c Code) Status() int { return c.lookup().status }

// Message is S3's default message for the code.
func (c Code) Message() string { return c.lookup().msg }

// MarshalText writes the code's name, so that XML documents and JSON log
// lines carry "NoSuchKey" rather than a number.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Codes lists every code in the table.
func Codes() []Code {
	out := make([]Code, 0, numCodes-1)
	for c := invalid + 1; c < numCodes; c++ {
		out = append(out, c)
	}
	return out
}
