package proto

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Error numbers carried in error replies. They follow POSIX errno values so
// that a C client can print them with strerror.
const (
	EPERM        int16 = 1  // (DELETE) the file is held (HOLD, 80)
	ENOENT       int16 = 2  // no such file, user or key
	EIO          int16 = 5  // disk or database failure
	EAGAIN       int16 = 11 // no active storage node, try later
	EACCES       int16 = 13 // group not admitted
	EEXIST       int16 = 17 // file ID already used
	EXDEV        int16 = 18 // (LOCAL_OPEN) no good copy on this node: use DOWNLOAD
	EINVAL       int16 = 22 // bad field
	ENOSPC       int16 = 28 // upload does not fit
	EROFS        int16 = 30 // the node cannot take uploads now (read-only, full, failing writes): use another member
	ERANGE       int16 = 34 // offset/size outside the file
	ENAMETOOLONG int16 = 36 // string longer than its field
	ENOSYS       int16 = 38 // unknown command
	EPROTO       int16 = 71 // malformed frame
	EMSGSIZE     int16 = 90 // body length not allowed
	EBADMSG      int16 = 74 // checksum mismatch
)

// ErrorReply is the body of a status-0xFD reply: errno int16 BE and a
// NUL-terminated description of at most 1024 bytes with its NUL.
// As a Go error it is what a client gets back from a server.
type ErrorReply struct {
	Errno int16
	Desc  string
}

func (e *ErrorReply) Error() string { return fmt.Sprintf("remote error %d: %s", e.Errno, e.Desc) }

// Encode returns the body. Our own descriptions are clipped to the field on a
// rune boundary; they are messages, not data a peer relies on.
func (e *ErrorReply) Encode() []byte {
	d := e.Desc
	if len(d) > ErrorDescSize-1 {
		d = d[:ErrorDescSize-1]
		for len(d) > 0 && !utf8.ValidString(d) {
			d = d[:len(d)-1]
		}
	}
	for i := 0; i < len(d); i++ {
		if d[i] == 0 {
			d = d[:i]
			break
		}
	}
	b := make([]byte, ErrorNumSize+len(d)+1)
	binary.BigEndian.PutUint16(b, uint16(e.Errno))
	copy(b[ErrorNumSize:], d)
	return b
}

// DecodeError parses an error body.
func DecodeError(b []byte) (*ErrorReply, error) {
	if len(b) < ErrorNumSize+1 || len(b) > MaxErrorBody {
		return nil, fmt.Errorf("%w: error body of %d bytes", ErrBodyLen, len(b))
	}
	desc, err := DecodeText(b[ErrorNumSize:])
	if err != nil {
		return nil, err
	}
	return &ErrorReply{Errno: int16(binary.BigEndian.Uint16(b)), Desc: desc}, nil
}

// Errorf builds an ErrorReply.
func Errorf(errno int16, format string, args ...any) *ErrorReply {
	return &ErrorReply{Errno: errno, Desc: fmt.Sprintf(format, args...)}
}
