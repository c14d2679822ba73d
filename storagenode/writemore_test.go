package storagenode

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeMore's head (MSG_MORE on TCP) arrives before and whole with the
// bytes sendfile sends after it, for a small file and for one larger than
// the socket buffers; on a connection that is not TCP it is a plain write.
func TestWriteMore_HeadThenFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{cfg: Config{IOTimeout: 10 * time.Second}}
	for _, size := range []int{4096, 8 << 20} {
		data := randBytes(uint64(size), size)
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		head := []byte("0123456789")
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer c.Close()
			b, _ := io.ReadAll(c)
			got <- b
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeMore(c, head, true); err != nil {
			t.Fatal(err)
		}
		if err := s.sendFile(c, f, 0, int64(size)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		c.Close()
		if b := <-got; !bytes.Equal(b, append(head, data...)) {
			t.Fatalf("%d bytes: received %d bytes, not the head and the file", size, len(b))
		}
	}

	a, b := net.Pipe()
	go func() { writeMore(a, []byte("head"), true); a.Close() }()
	if got, _ := io.ReadAll(b); string(got) != "head" {
		t.Fatalf("pipe: %q", got)
	}
}
