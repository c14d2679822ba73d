package gateway

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
)

// The form of a browser POST upload, read as it streams: the fields before
// the file are kept (at most maxPostPreData bytes of them, as S3 allows),
// the file part is handed on unread, and whatever follows it is ignored,
// as S3 does.

// maxPostPreData is S3's limit on the form before the file: 20 KB.
const maxPostPreData = 20 << 10

// preDataSlack is how many raw bytes beyond maxPostPreData the parts'
// headers and boundaries may take before the reader gives up.
const preDataSlack = 12 << 10

var errPreData = errors.New("gateway: POST fields before the file over the limit")

// preDataLimit counts the raw bytes read from a POST body and, until the
// file part is found, refuses to read more than limit.
type preDataLimit struct {
	r     io.Reader
	n     int64
	limit int64 // 0: no limit
}

func (l *preDataLimit) Read(p []byte) (int, error) {
	if l.limit > 0 {
		left := l.limit - l.n
		if left <= 0 {
			return 0, errPreData
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// postForm is the form up to its file part.
type postForm struct {
	fields map[string][]string // lower-case name → values in order
	names  []string            // names as sent, each once, in order
	size   int                 // bytes of names and values

	file        *multipart.Part
	filename    string // the file part's filename, path stripped
	hasFilename bool   // the part has a filename parameter at all
}

// value is a field's value; repeated fields are joined with commas, as S3
// documents.
func (f *postForm) value(lname string) (string, bool) {
	v, ok := f.fields[lname]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

// get looks a field up case-insensitively (sigv4.PostField).
func (f *postForm) get(name string) (string, bool) { return f.value(strings.ToLower(name)) }

// readPostForm reads the parts of mr up to the one named "file".
func readPostForm(mr *multipart.Reader) (*postForm, error) {
	f := &postForm{fields: map[string][]string{}}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, errNoFile()
		}
		if err != nil {
			return nil, formError(err)
		}
		name := formName(p)
		if name == "" {
			return nil, errCode(s3err.MalformedPOSTRequest)
		}
		lname := strings.ToLower(name)
		if lname == "file" {
			f.file = p
			f.filename, f.hasFilename = fileName(p)
			return f, nil
		}
		f.size += len(name)
		left := int64(maxPostPreData - f.size)
		b, err := io.ReadAll(io.LimitReader(p, left+1))
		if err != nil {
			return nil, formError(err)
		}
		f.size += len(b)
		if f.size > maxPostPreData {
			return nil, errPreDataTooLarge()
		}
		if _, seen := f.fields[lname]; !seen {
			f.names = append(f.names, name)
		}
		f.fields[lname] = append(f.fields[lname], string(b))
	}
}

func errNoFile() *s3Error {
	e := errMsg(s3err.InvalidArgument, "POST requires exactly one file upload per request.")
	e.Extra = argument("file", "0")
	return e
}

func errPreDataTooLarge() *s3Error {
	e := errCode(s3err.MaxPostPreDataLengthExceeded)
	e.Extra = extra("MaxPostPreDataLengthBytes", "20480")
	return e
}

// formError maps a failure to read the form: the client's body ending or
// stalling, the fields before the file over their limit, or a body that is
// not multipart/form-data.
func formError(err error) error {
	switch {
	case errors.Is(err, errPreData):
		return errPreDataTooLarge()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errCode(s3err.IncompleteBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errCode(s3err.RequestTimeout)
	}
	var se *s3Error
	if errors.As(err, &se) {
		return err
	}
	e := errCode(s3err.MalformedPOSTRequest)
	e.cause = err
	return e
}

// formName is a part's form-data name ("" when it is not a form-data part
// with a name). multipart.Part.FormName does the same, but this keeps the
// name exactly as sent.
func formName(p *multipart.Part) string {
	disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || !strings.EqualFold(disp, "form-data") {
		return ""
	}
	return params["name"]
}

// fileName is the file part's filename parameter without any directory
// (after the last / or \, as S3 takes it), and whether there is one.
func fileName(p *multipart.Part) (string, bool) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return "", false
	}
	name, ok := params["filename"]
	if !ok {
		return "", false
	}
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name, true
}
