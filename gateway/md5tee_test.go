package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func TestMD5Tee_SameBytesAndSumAsTeeReader(t *testing.T) {
	for _, size := range []int{0, 1, md5TeeMin - 1, md5TeeMin, 3*md5TeeBuf + 7, 5<<20 + 3} {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(data)
		// odd read sizes, and reads larger than the tee's buffers
		src := iotest.HalfReader(bytes.NewReader(data))
		r, sum, stop := newMD5Tee(src, int64(size))
		var got bytes.Buffer
		buf := make([]byte, 3*md5TeeBuf+1)
		if _, err := io.CopyBuffer(struct{ io.Writer }{&got}, r, buf); err != nil {
			t.Fatal(err)
		}
		want := md5.Sum(data)
		if !bytes.Equal(got.Bytes(), data) || !bytes.Equal(sum(), want[:]) {
			t.Fatalf("size %d: bytes or MD5 differ", size)
		}
		stop() // after sum: a no-op
	}
}

func TestMD5Tee_StopWithoutSum_EndsTheHasher(t *testing.T) {
	r, _, stop := newMD5Tee(bytes.NewReader(make([]byte, 4<<20)), 4<<20)
	if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
}

func TestBlobReader_WriteTo_SpansBlobsFromAnOffset(t *testing.T) {
	s := newMemStore()
	ctx := context.Background()
	var all []byte
	var blobs []blob
	for i, n := range []int{1000, 1, 70000, 5} {
		b := make([]byte, n)
		rand.NewChaCha8([32]byte{byte(i)}).Read(b)
		id := string(rune('a' + i))
		if err := s.Put(ctx, "app", "u", id, bytes.NewReader(b), int64(n)); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		blobs = append(blobs, blob{UserID: "u", FileID: id, Size: int64(n)})
	}
	for _, tc := range []struct{ off, n int64 }{{0, int64(len(all))}, {999, 3}, {1001, 70004}, {int64(len(all)) - 1, 1}} {
		var got bytes.Buffer
		br := newBlobReader(ctx, s, "app", blobs, tc.off, tc.n)
		n, err := br.WriteTo(&got)
		br.Close()
		if err != nil || n != tc.n || !bytes.Equal(got.Bytes(), all[tc.off:tc.off+tc.n]) {
			t.Fatalf("WriteTo(%d, %d) = %d, %v", tc.off, tc.n, n, err)
		}
	}
	// an index entry longer than the blob
	short := []blob{{UserID: "u", FileID: "a", Size: 2000}}
	br := newBlobReader(ctx, s, "app", short, 0, 2000)
	if _, err := br.WriteTo(io.Discard); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short blob: %v, want ErrUnexpectedEOF", err)
	}
}

func TestMD5Tee_ManyAtOnce_SIMDSumsAgree(t *testing.T) {
	const n = 2 * md5SIMDFrom
	data := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{9}).Read(data)
	want := md5.Sum(data)
	type tee struct {
		r    io.Reader
		sum  func() []byte
		stop func()
	}
	var tees []tee
	for range n { // all open at once: the later ones hash with md5-simd
		r, sum, stop := newMD5Tee(bytes.NewReader(data), int64(len(data)))
		tees = append(tees, tee{r, sum, stop})
	}
	for i, tt := range tees {
		if _, err := io.Copy(io.Discard, tt.r); err != nil {
			t.Fatal(err)
		}
		if got := tt.sum(); !bytes.Equal(got, want[:]) {
			t.Fatalf("tee %d: MD5 %x, want %x", i, got, want)
		}
		tt.stop()
	}
	if b := md5Busy.Load(); b != 0 {
		t.Fatalf("md5Busy = %d after every tee ended", b)
	}
}
