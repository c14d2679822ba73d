package proto

import (
	"encoding/binary"
	"fmt"
)

// CmdStorageUploadStaged (84, extension) is UPLOAD (70) whose group log
// commit is left to the client: the coordinator receives the file, makes
// it and its mirrors' copies durable exactly as for UPLOAD, and instead of
// committing the put to the group log it keeps that commit staged and
// answers with a token naming it (StagedTokenLen bytes). The client then
// commits it in its own database transaction together with what it
// records of the file (tnv up: the gateway's index row), one commit where
// there were two. The token is only good inside the node's process, so a
// node takes this command only when it was started with a client in its
// process that can finish the commit (Config.Staging); others answer
// ENOSYS. A staged commit not taken within the node's StagedTTL is
// abandoned: the node's copy is removed, its mirrors' copies never get a
// row (docs/replication.md). Body as UPLOAD's.
const CmdStorageUploadStaged uint8 = 84

// StagedTokenLen is the length of UPLOAD_STAGED's reply body.
const StagedTokenLen = 8

// EncodeStagedToken returns UPLOAD_STAGED's reply body.
func EncodeStagedToken(token uint64) []byte {
	b := make([]byte, StagedTokenLen)
	binary.BigEndian.PutUint64(b, token)
	return b
}

// DecodeStagedToken reads UPLOAD_STAGED's reply body. Token 0 is never
// handed out.
func DecodeStagedToken(b []byte) (uint64, error) {
	if len(b) != StagedTokenLen {
		return 0, fmt.Errorf("%w: staged token of %d bytes, want %d", ErrBodyLen, len(b), StagedTokenLen)
	}
	t := binary.BigEndian.Uint64(b)
	if t == 0 {
		return 0, fmt.Errorf("%w: staged token 0", ErrBadField)
	}
	return t, nil
}
