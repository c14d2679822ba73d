package tnv

import (
	"errors"
	"fmt"

	"github.com/tnv-s3/tnv/proto"
)

// Sentinel errors callers branch on. A remote error reply matches them through
// errors.Is; errors.As with a **proto.ErrorReply gives its errno and text.
var (
	ErrNotFound = errors.New("tnv: file not found")       // ENOENT
	ErrInvalid  = errors.New("tnv: invalid argument")     // EINVAL, ENAMETOOLONG, or refused before sending
	ErrExists   = errors.New("tnv: file ID already used") // EEXIST
	ErrNoSpace  = errors.New("tnv: no space on storage")  // ENOSPC
	ErrRange    = errors.New("tnv: range outside file")   // ERANGE
	ErrNoNode   = errors.New("tnv: no storage node available")
	ErrClosed   = errors.New("tnv: client closed")
)

// RemoteError is an error reply from a server, with where it came from.
type RemoteError struct {
	Op    string // "upload", "download", "saddrs", ...
	Addr  string // the server that answered
	Reply *proto.ErrorReply
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s %s: %s (errno %d)", e.Op, e.Addr, e.Reply.Desc, e.Reply.Errno)
}

// Unwrap gives the reply itself, for errors.As(err, &*proto.ErrorReply).
func (e *RemoteError) Unwrap() error { return e.Reply }

// Is maps errno values onto the package's sentinels.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Reply.Errno == proto.ENOENT
	case ErrInvalid:
		return e.Reply.Errno == proto.EINVAL || e.Reply.Errno == proto.ENAMETOOLONG
	case ErrExists:
		return e.Reply.Errno == proto.EEXIST
	case ErrNoSpace:
		return e.Reply.Errno == proto.ENOSPC
	case ErrRange:
		return e.Reply.Errno == proto.ERANGE
	}
	return false
}

// final reports whether a remote error settles the request: another node of
// the group would answer the same. ENOENT is not final for reads, since a
// mirror may lag behind the member that took the upload; ENOSPC and EROFS
// are not (members differ in room and health), so a refused upload goes to
// another member.
func final(e *proto.ErrorReply, read bool) bool {
	switch e.Errno {
	case proto.ENOENT:
		return !read
	case proto.EINVAL, proto.ENAMETOOLONG, proto.EEXIST,
		proto.ERANGE, proto.EMSGSIZE, proto.EACCES, proto.EPERM:
		return true
	}
	return false
}
