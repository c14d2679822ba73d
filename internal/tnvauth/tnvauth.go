// Package tnvauth runs the cluster handshake (proto/auth.go,
// docs/protocol.md "Handshake") on a TNV connection before its first frame.
// It authenticates the connection and then steps aside: the caller keeps
// the net.Conn it had (a *net.TCPConn stays one), so sendfile and splice
// still apply to the bytes that follow.
package tnvauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// MinSecretLen is the shortest cluster secret accepted, in bytes.
const MinSecretLen = 32

// DefaultTimeout bounds a whole handshake.
const DefaultTimeout = 5 * time.Second

// ErrShortSecret is returned for a secret under MinSecretLen bytes.
var ErrShortSecret = fmt.Errorf("cluster secret too short: at least %d bytes are needed (e.g. `openssl rand -hex 32`)", MinSecretLen)

// ErrRefused is the server's verdict on a peer that sent something else
// than a valid proof (it got an error reply); ErrServerProof a client's on
// a server that did not prove the secret. A peer that only connected and
// left (a port probe) gives another error, not worth a warning.
var (
	ErrRefused     = errors.New("tnvauth: peer not authenticated")
	ErrServerProof = errors.New("tnvauth: server did not prove the cluster secret")
)

// Key holds a cluster secret. A nil *Key means the open protocol: Client
// and Server do nothing.
type Key struct {
	secret  []byte
	Timeout time.Duration // of one handshake; 0 = DefaultTimeout
}

// NewKey checks secret's length and keeps a copy of it.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w, got %d", ErrShortSecret, len(secret))
	}
	return &Key{secret: append([]byte(nil), secret...)}, nil
}

// String never shows the secret, so a Key in a log line is harmless.
func (k *Key) String() string {
	if k == nil {
		return "open-protocol"
	}
	return "cluster-secret"
}

func (k *Key) timeout() time.Duration {
	if k.Timeout > 0 {
		return k.Timeout
	}
	return DefaultTimeout
}

func nonce() (proto.AuthNonce, error) {
	var n proto.AuthNonce
	_, err := rand.Read(n[:])
	return n, err
}

// Client runs the client side on nc: it sends its nonce, answers the
// server's, and checks the server's proof. The deadline of nc is cleared
// afterwards. nil k: nothing to do.
func Client(nc net.Conn, k *Key) error {
	return ClientContext(context.Background(), nc, k)
}

// ClientContext is Client that also gives up when ctx ends.
func ClientContext(ctx context.Context, nc net.Conn, k *Key) error {
	if k == nil {
		return nil
	}
	deadline := time.Now().Add(k.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err := client(nc, k)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		return fmt.Errorf("handshake with %s: %w", nc.RemoteAddr(), err)
	}
	return nc.SetDeadline(time.Time{})
}

func client(nc net.Conn, k *Key) error {
	nc1, err := nonce()
	if err != nil {
		return err
	}
	if err := proto.WriteFrame(nc, proto.CmdAuthHello, proto.StatusOK, proto.EncodeAuthNonce(nc1)); err != nil {
		return err
	}
	b, err := readReply(nc, proto.CmdAuthChallenge)
	if err != nil {
		return err
	}
	ns, err := proto.DecodeAuthNonce(b)
	if err != nil {
		return err
	}
	if ns == nc1 {
		// Our own nonce back: a reflecting peer, not a server.
		return ErrServerProof
	}
	mac := proto.ClientMAC(k.secret, nc1, ns)
	if err := proto.WriteFrame(nc, proto.CmdAuthProof, proto.StatusOK, mac[:]); err != nil {
		return err
	}
	if b, err = readReply(nc, proto.CmdAuthOK); err != nil {
		return err
	}
	got, err := proto.DecodeAuthMAC(b)
	if err != nil {
		return err
	}
	if !got.Equal(proto.ServerMAC(k.secret, nc1, ns)) {
		return ErrServerProof
	}
	return nil
}

// readReply reads a handshake reply. A server of the open protocol answers
// AUTH_HELLO as an unknown command; that is said plainly.
func readReply(r io.Reader, want uint8) ([]byte, error) {
	h, b, err := proto.ReadReply(r, want, proto.AuthHelloLen)
	var e *proto.ErrorReply
	if errors.As(err, &e) && e.Errno == proto.ENOSYS {
		return nil, fmt.Errorf("server does not authenticate (runs with --open-protocol?): %w", err)
	}
	if err != nil {
		return nil, err
	}
	if err := proto.CheckAuthHeader(h, want); err != nil {
		return nil, err
	}
	return b, nil
}

// Server runs the server side on a freshly accepted nc, before any other
// frame. A peer that does not complete it gets one error reply — with
// replyCmd, the server's reply command, when its first frame is not
// AUTH_HELLO, so a seed client reads it as the answer to its request — and
// the caller must close the connection. The deadline of nc is cleared on
// success. nil k: nothing to do.
func Server(nc net.Conn, k *Key, replyCmd uint8) error {
	if k == nil {
		return nil
	}
	nc.SetDeadline(time.Now().Add(k.timeout()))
	refuse := func(cmd uint8, h proto.Header, why error) error {
		proto.WriteError(nc, cmd, proto.Errorf(proto.EACCES, "authentication required: %v", why))
		drain(nc, h)
		return fmt.Errorf("%w: %s: %v", ErrRefused, nc.RemoteAddr(), why)
	}
	h, err := proto.ReadHeader(nc)
	if err != nil {
		return fmt.Errorf("tnvauth: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	if err := proto.CheckAuthHeader(h, proto.CmdAuthHello); err != nil {
		return refuse(replyCmd, h, err)
	}
	b, err := proto.ReadBody(nc, h, proto.AuthHelloLen)
	if err != nil {
		return fmt.Errorf("tnvauth: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	nc1, err := proto.DecodeAuthNonce(b)
	if err != nil {
		return refuse(proto.CmdAuthChallenge, proto.Header{}, err)
	}
	ns, err := nonce()
	if err != nil {
		return err
	}
	if err := proto.WriteFrame(nc, proto.CmdAuthChallenge, proto.StatusOK, proto.EncodeAuthNonce(ns)); err != nil {
		return err
	}
	if h, err = proto.ReadHeader(nc); err != nil {
		return fmt.Errorf("tnvauth: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	if err := proto.CheckAuthHeader(h, proto.CmdAuthProof); err != nil {
		return refuse(proto.CmdAuthOK, h, err)
	}
	if b, err = proto.ReadBody(nc, h, proto.AuthProofLen); err != nil {
		return fmt.Errorf("tnvauth: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	got, _ := proto.DecodeAuthMAC(b) // length checked with the header
	if !got.Equal(proto.ClientMAC(k.secret, nc1, ns)) {
		return refuse(proto.CmdAuthOK, proto.Header{}, errors.New("wrong cluster secret"))
	}
	mac := proto.ServerMAC(k.secret, nc1, ns)
	if err := proto.WriteFrame(nc, proto.CmdAuthOK, proto.StatusOK, mac[:]); err != nil {
		return err
	}
	return nc.SetDeadline(time.Time{})
}

// LogLevel is the level at which to log err from Server: a refusal is a
// warning (a peer without the secret tried), a peer that left without a
// word (a port probe, a health check) is debug.
func LogLevel(err error) slog.Level {
	if errors.Is(err, ErrRefused) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// drain reads what a refused peer already sent of a small body (within the
// handshake's deadline), so that closing the connection does not reset it
// before the peer has read the error reply.
func drain(nc net.Conn, h proto.Header) {
	if h.BodyLen > 0 && h.BodyLen <= 64<<10 {
		io.CopyN(io.Discard, nc, h.BodyLen)
	}
	// A *net.TCPConn or a *tls.Conn (close_notify, then the TCP half close).
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// Dialer returns a dial function that connects to addr over TCP and runs
// the client side of the handshake with k (nil k: dial only). The
// connection it returns is the *net.TCPConn itself. This is the seam a
// connection pool takes.
func Dialer(k *Key, dialTimeout time.Duration) func(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil || k == nil {
			return nc, err
		}
		if err := ClientContext(ctx, nc, k); err != nil {
			nc.Close()
			return nil, err
		}
		return nc, nil
	}
}
