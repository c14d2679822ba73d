package proto

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// The cluster handshake (docs/protocol.md, "Handshake"): before any other
// frame, client and server prove to each other that they know the cluster
// secret with HMAC-SHA-256 over a fresh nonce from each side. The secret is
// never sent; a recorded exchange does not fit another connection's nonces.
//
//	client → server  90 AUTH_HELLO      version u8 | client nonce[32]   (33 bytes)
//	server → client  91 AUTH_CHALLENGE  version u8 | server nonce[32]   (33 bytes)
//	client → server  92 AUTH_PROOF      client MAC[32]
//	server → client  93 AUTH_OK         server MAC[32]
//
// client MAC = HMAC-SHA-256(secret, "tnv-auth v1 client" | Nc | Ns)
// server MAC = HMAC-SHA-256(secret, "tnv-auth v1 server" | Nc | Ns)
const (
	CmdAuthHello     uint8 = 90
	CmdAuthChallenge uint8 = 91
	CmdAuthProof     uint8 = 92
	CmdAuthOK        uint8 = 93
)

// Sizes of the handshake's bodies.
const (
	AuthVersion   = 1
	AuthNonceSize = 32
	AuthMACSize   = sha256.Size          // 32
	AuthHelloLen  = 1 + AuthNonceSize    // 33, also AUTH_CHALLENGE's
	AuthProofLen  = AuthMACSize          // 32, also AUTH_OK's
	authLabelLen  = len(authLabelClient) // both labels have it
	authMACInput  = authLabelLen + 2*AuthNonceSize
)

// The labels make a client's MAC useless as a server's and back: a peer
// cannot reflect what it is shown. Equal lengths keep the input unambiguous.
const (
	authLabelClient = "tnv-auth v1 client"
	authLabelServer = "tnv-auth v1 server"
)

// Errors of the handshake's frames.
var (
	ErrAuthFrame   = errors.New("proto: not an authentication frame")
	ErrAuthVersion = errors.New("proto: authentication version not supported")
)

// AuthNonce is one side's fresh random value.
type AuthNonce [AuthNonceSize]byte

// AuthMAC is a MAC of the handshake.
type AuthMAC [AuthMACSize]byte

// EncodeAuthNonce returns the body of AUTH_HELLO or AUTH_CHALLENGE.
func EncodeAuthNonce(n AuthNonce) []byte {
	b := make([]byte, AuthHelloLen)
	b[0] = AuthVersion
	copy(b[1:], n[:])
	return b
}

// CheckAuthHeader validates the header of a handshake frame: command want,
// status OK and the body length of that command. A server calls it on the
// first header a peer sends before reading anything more.
func CheckAuthHeader(h Header, want uint8) error {
	if h.Cmd != want {
		return fmt.Errorf("%w: command %d, want %d", ErrAuthFrame, h.Cmd, want)
	}
	if h.Status != StatusOK {
		return fmt.Errorf("%w: command %d with status %d", ErrAuthFrame, h.Cmd, h.Status)
	}
	n := int64(AuthHelloLen)
	if want == CmdAuthProof || want == CmdAuthOK {
		n = AuthProofLen
	}
	if h.BodyLen != n {
		return fmt.Errorf("%w: command %d body %d, want %d", ErrBodyLen, h.Cmd, h.BodyLen, n)
	}
	return nil
}

// DecodeAuthNonce parses the body of AUTH_HELLO or AUTH_CHALLENGE.
func DecodeAuthNonce(b []byte) (AuthNonce, error) {
	var n AuthNonce
	if len(b) != AuthHelloLen {
		return n, fmt.Errorf("%w: nonce body of %d bytes", ErrBodyLen, len(b))
	}
	if b[0] != AuthVersion {
		return n, fmt.Errorf("%w: %d", ErrAuthVersion, b[0])
	}
	copy(n[:], b[1:])
	return n, nil
}

// DecodeAuthMAC parses the body of AUTH_PROOF or AUTH_OK.
func DecodeAuthMAC(b []byte) (AuthMAC, error) {
	var m AuthMAC
	if len(b) != AuthProofLen {
		return m, fmt.Errorf("%w: MAC body of %d bytes", ErrBodyLen, len(b))
	}
	copy(m[:], b)
	return m, nil
}

// ClientMAC is what a client sends in AUTH_PROOF.
func ClientMAC(secret []byte, client, server AuthNonce) AuthMAC {
	return authMAC(secret, authLabelClient, client, server)
}

// ServerMAC is what a server sends in AUTH_OK.
func ServerMAC(secret []byte, client, server AuthNonce) AuthMAC {
	return authMAC(secret, authLabelServer, client, server)
}

func authMAC(secret []byte, label string, client, server AuthNonce) AuthMAC {
	in := make([]byte, 0, authMACInput)
	in = append(in, label...)
	in = append(in, client[:]...)
	in = append(in, server[:]...)
	h := hmac.New(sha256.New, secret)
	h.Write(in)
	var m AuthMAC
	copy(m[:], h.Sum(nil))
	return m
}

// Equal compares two MACs in constant time.
func (m AuthMAC) Equal(o AuthMAC) bool { return hmac.Equal(m[:], o[:]) }
