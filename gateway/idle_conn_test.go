package gateway

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A connection that sends nothing until the header timeout is closed
// without an answer (an answer there is unsolicited, and a client sending
// its request at that moment would take it for its own); one cut off in
// its headers is answered 400 RequestTimeout. Plain and TLS.
func TestGateway_IdleConnectionClosedWithoutAnAnswer(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[useTLS]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpt{memory: true, tls: useTLS, headerTimeout: 300 * time.Millisecond})
			addr := strings.TrimPrefix(strings.TrimPrefix(e.endpoint, "http://"), "https://")
			dial := func() net.Conn {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { nc.Close() })
				if !useTLS {
					return nc
				}
				tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				return tc
			}
			idle, partial := dial(), dial()
			if _, err := io.WriteString(partial, "GET /bkt/k HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				nc   net.Conn
				want string
			}{{idle, ""}, {partial, "HTTP/1.1 400"}} {
				c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(c.nc)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("still open after 10 s (header timeout 300 ms)")
				}
				if got := string(b); (c.want == "" && got != "") || !strings.HasPrefix(got, c.want) || (c.want != "" && !strings.Contains(got, "RequestTimeout")) {
					t.Errorf("answered %q, want %q", got, c.want)
				}
			}
		})
	}
}
