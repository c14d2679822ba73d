package proto

import (
	"encoding/binary"
	"fmt"
	"math"
)

// CmdTrackerMembers (14, extension) asks a tracker for the members of one
// group: request groupname[17], reply 100 with NUL-terminated text, one line
// per member (docs/protocol.md, "Tracker extensions").
const CmdTrackerMembers uint8 = 14

// MembersBodyLen is the request body of MEMBERS: one group name field.
const MembersBodyLen = GroupNameSize

// CmdIDGetBlock (41, extension) is ID_GET for up to want IDs of one key at
// once, so that a storage node asks the ID server once per block instead of
// once per file: body want u16 BE (1..IDBlockMax), then ID_GET's body (the
// key and a NUL); reply 101 with first i64 | n i64, the IDs first ..
// first+n-1, 1 <= n <= want (docs/protocol.md, "41 ID_GET_BLOCK"). An
// ID server older than it refuses it with ENOSYS.
const CmdIDGetBlock uint8 = 41

// IDBlockMax bounds an ID_GET_BLOCK's want; IDBlockReplyLen is its reply;
// MaxIDRequestBody is the longest body of ID_GET or ID_GET_BLOCK.
const (
	IDBlockMax       = 1000
	IDBlockReplyLen  = 16
	idBlockWantLen   = 2
	MaxIDRequestBody = idBlockWantLen + IDKeySize
)

// EncodeIDBlock returns the body of ID_GET_BLOCK.
func EncodeIDBlock(key string, want int) ([]byte, error) {
	if want < 1 || want > IDBlockMax {
		return nil, fmt.Errorf("%w: want %d IDs, not in [1, %d]", ErrBadField, want, IDBlockMax)
	}
	k, err := EncodeIDKey(key)
	if err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, idBlockWantLen+len(k)), uint16(want))
	return append(b, k...), nil
}

// DecodeIDBlock parses an ID_GET_BLOCK body.
func DecodeIDBlock(b []byte) (key string, want int, err error) {
	if len(b) < idBlockWantLen+1 {
		return "", 0, fmt.Errorf("%w: ID block body of %d bytes", ErrBodyLen, len(b))
	}
	want = int(binary.BigEndian.Uint16(b))
	if want < 1 || want > IDBlockMax {
		return "", 0, fmt.Errorf("%w: want %d IDs, not in [1, %d]", ErrBadField, want, IDBlockMax)
	}
	key, err = DecodeIDKey(b[idBlockWantLen:])
	return key, want, err
}

// DecodeIDRequest parses the body of ID_GET (want 1) or ID_GET_BLOCK.
func DecodeIDRequest(cmd uint8, b []byte) (key string, want int, err error) {
	if cmd == CmdIDGetBlock {
		return DecodeIDBlock(b)
	}
	key, err = DecodeIDKey(b)
	return key, 1, err
}

// EncodeIDRange is ID_GET_BLOCK's reply: the first ID and how many.
func EncodeIDRange(first, n int64) []byte {
	b := make([]byte, IDBlockReplyLen)
	putI64(b, first)
	putI64(b[8:], n)
	return b
}

// DecodeIDRange parses ID_GET_BLOCK's reply; at most want IDs, at least one,
// all positive.
func DecodeIDRange(b []byte, want int) (first, n int64, err error) {
	if len(b) != IDBlockReplyLen {
		return 0, 0, fmt.Errorf("%w: ID range of %d bytes", ErrBodyLen, len(b))
	}
	first, n = getI64(b), getI64(b[8:])
	if first < 1 || n < 1 || n > int64(want) || first > math.MaxInt64-n {
		return 0, 0, fmt.Errorf("%w: ID range %d+%d for %d wanted", ErrBadField, first, n, want)
	}
	return first, n, nil
}

// Storage extensions (74..79): node-to-node replication and administration
// (docs/protocol.md, "Storage extensions / replication"; docs/replication.md).
// Every reply is command 102.
const (
	// REPLICATE: a member receives a copy of an upload from the node that
	// coordinates it. Body: ReplicaHead (558 bytes), the file bytes, then
	// the file's CRC32C (u32 BE).
	CmdStorageReplicate uint8 = 74
	// REPLICATE_DELETE: fileref[400] deleted_time i64 (408 bytes).
	CmdStorageReplicateDelete uint8 = 75
	// FETCH: a member copies a file from a peer. Body as DOWNLOAD (416
	// bytes); reply crc32c u32 | filesize i64 | the bytes asked for.
	CmdStorageFetch uint8 = 76
	// SCRUB: mode u8 (ScrubRepair bit); reply a NUL-terminated report.
	CmdStorageScrub uint8 = 77
	// NODESTAT: empty body; reply NUL-terminated "key value" lines.
	CmdStorageStat uint8 = 78
	// LOCAL_OPEN: only on a node's Unix socket (--local-socket), for a
	// process on its machine. Body as DOWNLOAD (416 bytes); reply the
	// number of bytes to read (i64 BE), sent with the node's file, open and
	// positioned at the offset, as SCM_RIGHTS. Refusals as DOWNLOAD's, and
	// EXDEV when the node has no good copy of its own (DOWNLOAD proxies a
	// peer's).
	CmdStorageLocalOpen uint8 = 79
	// DOWNLOAD_LIVE and LOCAL_OPEN_LIVE: DOWNLOAD (72) and LOCAL_OPEN (79)
	// from a caller whose own index holds the file live (the S3 gateway,
	// which has just read the object's row): the node may serve its own
	// readable copy without asking the group log whether another member
	// deleted the file meanwhile. Bodies and replies as theirs.
	CmdStorageDownloadLive  uint8 = 81
	CmdStorageLocalOpenLive uint8 = 82
)

// Sizes of the storage extension bodies.
const (
	OriginSize          = 150                                // "host:port" of the coordinating node, with its NUL
	ReplicaHeadLen      = FileRefLen + 8 + OriginSize        // 558
	ReplicaTrailerLen   = 4                                  // crc32c
	ReplicateDeleteLen  = FileRefLen + 8                     // 408
	FetchReplyHeadLen   = 4 + 8                              // crc32c, file size
	ScrubBodyLen        = 1                                  // mode
	ScrubRepair         = 1                                  // mode bit: repair what is found
	replicaMinBody      = ReplicaHeadLen + ReplicaTrailerLen // an empty file
	replicaMaxBody      = replicaMinBody + MaxUploadBytes
	fetchBodyLen        = DownloadBodyLen
	replicateDeleteBody = ReplicateDeleteLen
)

// Extension commands beyond the seed's (documented in docs/protocol.md) add
// their body bounds here so that CheckRequest knows them.
func extensionLimits(cmd uint8) (min, max int64, ok bool) {
	switch cmd {
	case CmdTrackerMembers:
		return MembersBodyLen, MembersBodyLen, true
	case CmdIDGetBlock:
		return idBlockWantLen + 1, MaxIDRequestBody, true
	case CmdStorageReplicate, CmdStorageReplicateLinked:
		return replicaMinBody, replicaMaxBody, true
	case CmdStorageReplicateDelete:
		return replicateDeleteBody, replicateDeleteBody, true
	case CmdStorageFetch:
		return fetchBodyLen, fetchBodyLen, true
	case CmdStorageScrub:
		return ScrubBodyLen, ScrubBodyLen, true
	case CmdStorageStat:
		return 0, 0, true
	case CmdStorageLocalOpen, CmdStorageDownloadLive, CmdStorageLocalOpenLive:
		return DownloadBodyLen, DownloadBodyLen, true
	case CmdStorageHold:
		return HoldLen, HoldLen, true
	case CmdStorageUploadStaged:
		return UploadHeadLen, UploadHeadLen + MaxUploadBytes, true
	}
	return 0, 0, false
}

// ReplicaHead precedes the bytes of a REPLICATE: the file, its size and the
// coordinating node. The frame's bodylen is ReplicaHeadLen + Size + 4.
type ReplicaHead struct {
	FileRef
	Size   int64
	Origin string
}

// Encode returns the 558-byte head.
func (r *ReplicaHead) Encode() ([]byte, error) {
	b, err := r.refBody(ReplicaHeadLen)
	if err != nil {
		return nil, err
	}
	putI64(b[FileRefLen:], r.Size)
	if err := PutString(b[FileRefLen+8:], r.Origin); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	return b, nil
}

// DecodeReplicaHead parses the head; bodyLen is the frame's, which must
// agree with the size field.
func DecodeReplicaHead(b []byte, bodyLen int64) (*ReplicaHead, error) {
	f, err := getRefBody(b, ReplicaHeadLen, "replica head")
	if err != nil {
		return nil, err
	}
	r := &ReplicaHead{FileRef: f, Size: getI64(b[FileRefLen:])}
	if r.Origin, err = GetString(b[FileRefLen+8:]); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	if err := checkFileSize(r.Size, replicaMinBody, bodyLen); err != nil {
		return nil, err
	}
	return r, nil
}

// ReplicateDelete is the body of REPLICATE_DELETE: the file and the time of
// the delete (Unix seconds), from which the retention is counted.
type ReplicateDelete struct {
	FileRef
	DeletedTime int64
}

// Encode returns the 408-byte body.
func (d *ReplicateDelete) Encode() ([]byte, error) {
	b, err := d.refBody(ReplicateDeleteLen)
	if err != nil {
		return nil, err
	}
	putI64(b[FileRefLen:], d.DeletedTime)
	return b, nil
}

// DecodeReplicateDelete parses a REPLICATE_DELETE body.
func DecodeReplicateDelete(b []byte) (*ReplicateDelete, error) {
	f, err := getRefBody(b, ReplicateDeleteLen, "REPLICATE_DELETE body")
	if err != nil {
		return nil, err
	}
	return &ReplicateDelete{FileRef: f, DeletedTime: getI64(b[FileRefLen:])}, nil
}

// FetchReplyHead is what precedes the bytes of a FETCH reply.
type FetchReplyHead struct {
	CRC32C   uint32 // of the whole file
	FileSize int64
}

// Encode returns the 12 bytes.
func (f FetchReplyHead) Encode() []byte {
	b := make([]byte, FetchReplyHeadLen)
	binary.BigEndian.PutUint32(b, f.CRC32C)
	putI64(b[4:], f.FileSize)
	return b
}

// DecodeFetchReplyHead parses the 12 bytes.
func DecodeFetchReplyHead(b []byte) (FetchReplyHead, error) {
	if len(b) != FetchReplyHeadLen {
		return FetchReplyHead{}, fmt.Errorf("%w: FETCH reply head of %d bytes", ErrBodyLen, len(b))
	}
	f := FetchReplyHead{CRC32C: binary.BigEndian.Uint32(b), FileSize: getI64(b[4:])}
	if f.FileSize < 0 {
		return f, fmt.Errorf("proto: negative file size %d", f.FileSize)
	}
	return f, nil
}
