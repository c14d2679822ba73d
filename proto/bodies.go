package proto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Join is the body of JOIN (10): a storage node announcing itself.
type Join struct {
	Version string
	Group   string
	Host    string
	Port    uint16
	STime   int64 // node start time, Unix seconds
	JTime   int64 // join time, Unix seconds
}

// Encode returns the 171-byte body.
func (j *Join) Encode() ([]byte, error) {
	b := make([]byte, JoinBodyLen)
	o := 0
	for _, f := range []struct {
		s string
		n int
	}{{j.Version, VersionSize}, {j.Group, GroupNameSize}, {j.Host, HostNameSize}} {
		if err := PutString(b[o:o+f.n], f.s); err != nil {
			return nil, err
		}
		o += f.n
	}
	binary.BigEndian.PutUint16(b[o:], j.Port)
	putI64(b[o+2:], j.STime)
	putI64(b[o+10:], j.JTime)
	return b, nil
}

// DecodeJoin parses a JOIN body.
func DecodeJoin(b []byte) (*Join, error) {
	if len(b) != JoinBodyLen {
		return nil, fmt.Errorf("%w: JOIN body of %d bytes", ErrBodyLen, len(b))
	}
	var j Join
	var err error
	o := 0
	for _, f := range []struct {
		dst *string
		n   int
	}{{&j.Version, VersionSize}, {&j.Group, GroupNameSize}, {&j.Host, HostNameSize}} {
		if *f.dst, err = GetString(b[o : o+f.n]); err != nil {
			return nil, err
		}
		o += f.n
	}
	j.Port = binary.BigEndian.Uint16(b[o:])
	j.STime = getI64(b[o+2:])
	j.JTime = getI64(b[o+10:])
	return &j, nil
}

// Beat is the body of BEAT (11). The seed's body is group and host (146
// bytes). Our extension appends the node's port, so that two nodes on one host
// are told apart, its capacity, and its replication state (174 bytes), and
// then whether it can write (175 bytes; a 174-byte one means it can).
type Beat struct {
	Group string
	Host  string

	Extended  bool // the fields below are on the wire
	Port      uint16
	Total     int64 // bytes of the store paths' file systems
	Free      int64 // bytes available to the node
	SyncState uint8 // SyncActive, SyncWait, SyncSyncing
	SyncPct   uint8 // catch-up progress, 0..100
	Lag       int64 // operations of the group log not yet applied
	Health    uint8 // HealthOK, HealthReadOnly, HealthFull, HealthSick
}

// Node write health carried by the 175-byte BEAT: whether the node can take
// uploads. A node that cannot still serves reads of what it holds.
const (
	HealthOK       uint8 = 0 // its stores take writes
	HealthReadOnly uint8 = 1 // every store is read-only (EROFS, EACCES)
	HealthFull     uint8 = 2 // no store has room for a small file
	HealthSick     uint8 = 3 // writes or fsyncs fail with I/O errors
)

// HealthName is the text of a node's write health in GROUPS and MEMBERS.
func HealthName(h uint8) string {
	switch h {
	case HealthOK:
		return "OK"
	case HealthReadOnly:
		return "READONLY"
	case HealthFull:
		return "FULL"
	case HealthSick:
		return "SICK"
	}
	return "UNKNOWN"
}

// Node replication states carried by an extended BEAT.
const (
	SyncActive  uint8 = 0 // holds every file: may serve reads
	SyncWait    uint8 = 1 // waiting to start catching up
	SyncSyncing uint8 = 2 // copying what it missed
)

// SyncName is the text of a node's replication state in GROUPS, MEMBERS
// and a node's NODESTAT.
func SyncName(s uint8) string {
	switch s {
	case SyncActive:
		return "ACTIVE"
	case SyncWait:
		return "WAIT_SYNC"
	case SyncSyncing:
		return "SYNCING"
	}
	return "UNKNOWN"
}

// BeatExtBodyLen is the length of an extended BEAT body without the
// health byte; BeatHealthBodyLen with it (what Encode writes).
const (
	BeatExtBodyLen    = BeatBodyLen + 2 + 8 + 8 + 1 + 1 + 8 // 174
	BeatHealthBodyLen = BeatExtBodyLen + 1                  // 175
)

// Encode returns the body: 146 bytes, or 175 when Extended.
func (m *Beat) Encode() ([]byte, error) {
	n := BeatBodyLen
	if m.Extended {
		n = BeatHealthBodyLen
	}
	b := make([]byte, n)
	if err := PutString(b[:GroupNameSize], m.Group); err != nil {
		return nil, err
	}
	if err := PutString(b[GroupNameSize:BeatBodyLen], m.Host); err != nil {
		return nil, err
	}
	if m.Extended {
		o := BeatBodyLen
		binary.BigEndian.PutUint16(b[o:], m.Port)
		putI64(b[o+2:], m.Total)
		putI64(b[o+10:], m.Free)
		b[o+18] = m.SyncState
		b[o+19] = m.SyncPct
		putI64(b[o+20:], m.Lag)
		b[o+28] = m.Health
	}
	return b, nil
}

// DecodeBeat parses a seed or extended BEAT body.
func DecodeBeat(b []byte) (*Beat, error) {
	if len(b) != BeatBodyLen && len(b) != BeatExtBodyLen && len(b) != BeatHealthBodyLen {
		return nil, fmt.Errorf("%w: BEAT body of %d bytes", ErrBodyLen, len(b))
	}
	var m Beat
	var err error
	if m.Group, err = GetString(b[:GroupNameSize]); err != nil {
		return nil, err
	}
	if m.Host, err = GetString(b[GroupNameSize:BeatBodyLen]); err != nil {
		return nil, err
	}
	if len(b) >= BeatExtBodyLen {
		o := BeatBodyLen
		m.Extended = true
		m.Port = binary.BigEndian.Uint16(b[o:])
		m.Total = getI64(b[o+2:])
		m.Free = getI64(b[o+10:])
		m.SyncState = b[o+18]
		m.SyncPct = b[o+19]
		m.Lag = getI64(b[o+20:])
		if len(b) == BeatHealthBodyLen {
			m.Health = b[o+28]
		}
		if m.Total < 0 || m.Free < 0 || m.Lag < 0 || m.SyncPct > 100 || m.SyncState > SyncSyncing || m.Health > HealthSick {
			return nil, fmt.Errorf("proto: BEAT extension out of range")
		}
	}
	return &m, nil
}

// FileRef names a file: app ID, user ID, file ID (400 bytes). It is the body
// of SADDRS, FILESIZE and DELETE and the head of UPLOAD and DOWNLOAD.
type FileRef struct {
	AppID  string
	UserID string
	FileID string
}

func (f *FileRef) put(b []byte) error {
	if err := PutString(b[:AppIDSize], f.AppID); err != nil {
		return fmt.Errorf("appid: %w", err)
	}
	if err := PutString(b[AppIDSize:AppIDSize+UserIDSize], f.UserID); err != nil {
		return fmt.Errorf("userid: %w", err)
	}
	if err := PutString(b[AppIDSize+UserIDSize:FileRefLen], f.FileID); err != nil {
		return fmt.Errorf("fileid: %w", err)
	}
	return nil
}

func getFileRef(b []byte) (FileRef, error) {
	var f FileRef
	var err error
	if f.AppID, err = GetString(b[:AppIDSize]); err != nil {
		return f, fmt.Errorf("appid: %w", err)
	}
	if f.UserID, err = GetString(b[AppIDSize : AppIDSize+UserIDSize]); err != nil {
		return f, fmt.Errorf("userid: %w", err)
	}
	if f.FileID, err = GetString(b[AppIDSize+UserIDSize : FileRefLen]); err != nil {
		return f, fmt.Errorf("fileid: %w", err)
	}
	return f, nil
}

// The bodies about one file (UPLOAD's head, DOWNLOAD, REPLICATE's head,
// REPLICATE_DELETE, ...) start with its FileRef and have a fixed length;
// refBody and getRefBody are that part of their encoders and decoders.

// refBody returns a body of n bytes that starts with f.
func (f *FileRef) refBody(n int) ([]byte, error) {
	b := make([]byte, n)
	if err := f.put(b); err != nil {
		return nil, err
	}
	return b, nil
}

// getRefBody checks that b is n bytes (what names the body in the error)
// and returns the FileRef it starts with.
func getRefBody(b []byte, n int, what string) (FileRef, error) {
	if len(b) != n {
		return FileRef{}, fmt.Errorf("%w: %s of %d bytes", ErrBodyLen, what, len(b))
	}
	return getFileRef(b)
}

// checkFileSize checks a head's file size against the frame's bodyLen,
// which is head (the head and any trailer) plus size.
func checkFileSize(size, head, bodyLen int64) error {
	if size < 0 || size > MaxUploadBytes || head+size != bodyLen {
		return fmt.Errorf("%w: file size %d with body length %d", ErrBodyLen, size, bodyLen)
	}
	return nil
}

// Encode returns the 400-byte body.
func (f *FileRef) Encode() ([]byte, error) {
	b := make([]byte, FileRefLen)
	return b, f.put(b)
}

// DecodeFileRef parses a 400-byte body.
func DecodeFileRef(b []byte) (*FileRef, error) {
	f, err := getRefBody(b, FileRefLen, "file reference")
	return &f, err
}

// UploadHead is what precedes an UPLOAD's bytes: the file reference and the
// file size. The frame's bodylen is UploadHeadLen + Size.
type UploadHead struct {
	FileRef
	Size int64
}

// Encode returns the 408-byte head.
func (u *UploadHead) Encode() ([]byte, error) {
	b, err := u.refBody(UploadHeadLen)
	if err != nil {
		return nil, err
	}
	putI64(b[FileRefLen:], u.Size)
	return b, nil
}

// DecodeUploadHead parses the head; bodyLen is the frame's, which must agree
// with the size field.
func DecodeUploadHead(b []byte, bodyLen int64) (*UploadHead, error) {
	f, err := getRefBody(b, UploadHeadLen, "upload head")
	if err != nil {
		return nil, err
	}
	u := &UploadHead{FileRef: f, Size: getI64(b[FileRefLen:])}
	if err := checkFileSize(u.Size, UploadHeadLen, bodyLen); err != nil {
		return nil, err
	}
	return u, nil
}

// Download is the body of DOWNLOAD (72). Size 0 means to the end of the file.
type Download struct {
	FileRef
	Offset int64
	Size   int64
}

// Encode returns the 416-byte body.
func (d *Download) Encode() ([]byte, error) {
	b, err := d.refBody(DownloadBodyLen)
	if err != nil {
		return nil, err
	}
	putI64(b[FileRefLen:], d.Offset)
	putI64(b[FileRefLen+8:], d.Size)
	return b, nil
}

// DecodeDownload parses a DOWNLOAD body.
func DecodeDownload(b []byte) (*Download, error) {
	f, err := getRefBody(b, DownloadBodyLen, "DOWNLOAD body")
	if err != nil {
		return nil, err
	}
	d := &Download{FileRef: f, Offset: getI64(b[FileRefLen:]), Size: getI64(b[FileRefLen+8:])}
	if d.Offset < 0 || d.Size < 0 {
		return nil, fmt.Errorf("proto: negative offset or size")
	}
	return d, nil
}

// Saddrs is the body of a SADDRS reply: group name, then "ip:port;ip:port;"
// and a NUL. Nodes that cannot take uploads (Unwritable) come after the
// others, each address followed by "!" ("ip:port!;"): a client uploads to
// the first address and still reads from any. A seed client that parses
// the port with atoi reads such an address unchanged.
type Saddrs struct {
	Group      string
	Addrs      []string // writable nodes, in the tracker's order
	Unwritable []string // readable nodes that cannot take uploads now
}

// UnwritableMark follows the address of a node that cannot take uploads.
const UnwritableMark = "!"

// Encode returns the reply body.
func (s *Saddrs) Encode() ([]byte, error) {
	var sb strings.Builder
	for i, a := range append(append([]string(nil), s.Addrs...), s.Unwritable...) {
		if a == "" || strings.ContainsAny(a, ";!\x00") {
			return nil, fmt.Errorf("proto: bad address %q", a)
		}
		sb.WriteString(a)
		if i >= len(s.Addrs) {
			sb.WriteString(UnwritableMark)
		}
		sb.WriteByte(';')
	}
	b := make([]byte, GroupNameSize, GroupNameSize+sb.Len()+1)
	if err := PutString(b, s.Group); err != nil {
		return nil, err
	}
	b = append(b, sb.String()...)
	b = append(b, 0)
	if len(b) > MaxTextReply {
		return nil, fmt.Errorf("%w: SADDRS reply of %d bytes", ErrStringTooLong, len(b))
	}
	return b, nil
}

// All returns every address, writable ones first.
func (s *Saddrs) All() []string {
	return append(append([]string(nil), s.Addrs...), s.Unwritable...)
}

// DecodeSaddrs parses a SADDRS reply body.
func DecodeSaddrs(b []byte) (*Saddrs, error) {
	if len(b) < GroupNameSize+1 || len(b) > MaxTextReply {
		return nil, fmt.Errorf("%w: SADDRS reply of %d bytes", ErrBodyLen, len(b))
	}
	g, err := GetString(b[:GroupNameSize])
	if err != nil {
		return nil, err
	}
	text, err := DecodeText(b[GroupNameSize:])
	if err != nil {
		return nil, err
	}
	s := &Saddrs{Group: g}
	for _, a := range strings.Split(text, ";") {
		if a == "" {
			continue
		}
		u, marked := strings.CutSuffix(a, UnwritableMark)
		if u == "" || strings.Contains(u, UnwritableMark) {
			return nil, fmt.Errorf("proto: SADDRS: bad address %q", a)
		}
		if marked {
			s.Unwritable = append(s.Unwritable, u)
		} else {
			s.Addrs = append(s.Addrs, u)
		}
	}
	return s, nil
}

// EncodeIDKey returns the body of ID_GET: the key and a NUL.
func EncodeIDKey(key string) ([]byte, error) {
	if len(key) >= IDKeySize {
		return nil, fmt.Errorf("%w: key of %d bytes", ErrStringTooLong, len(key))
	}
	if strings.IndexByte(key, 0) >= 0 {
		return nil, ErrStringNUL
	}
	return append([]byte(key), 0), nil
}

// DecodeIDKey parses an ID_GET body: the key ends at the body's only NUL.
func DecodeIDKey(b []byte) (string, error) {
	if len(b) < 1 || len(b) > IDKeySize {
		return "", fmt.Errorf("%w: ID key body of %d bytes", ErrBodyLen, len(b))
	}
	if bytes.IndexByte(b, 0) != len(b)-1 {
		return "", ErrNotTerminated
	}
	return string(b[:len(b)-1]), nil
}
