package tnv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/tnv-s3/tnv/proto"
)

// tcpSink is a TCP connection whose far end collects what is written.
func tcpSink(t *testing.T) (*net.TCPConn, func() []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), func() []byte { c.Close(); return <-got }
}

func TestDownload_WriteTo_SplicesToTCPAcrossChunksAndResumes(t *testing.T) {
	cl := newCluster(t, 2)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	data := randBytes(2*spliceChunk + 12345)
	cl.mirror(ref, data)
	// Whichever node is tried first breaks off midway; the other completes.
	cl.nodes[0].set(func(f *fakeNode) { f.dropDownloadAfter = spliceChunk + 1000 })
	c := newClient(t, cl.tracker.addr())
	for range 2 {
		rc, err := c.Download(context.Background(), "app", "u1", "f", 7, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, collect := tcpSink(t)
		n, err := rc.(io.WriterTo).WriteTo(w)
		rc.Close()
		got := collect()
		if err != nil || n != int64(len(data)-7) || !bytes.Equal(got, data[7:]) {
			t.Fatalf("WriteTo = %d, %v; %d bytes arrived, equal %v", n, err, len(got), bytes.Equal(got, data[7:]))
		}
	}
}

func TestDownload_WriteTo_NoMirrorLeft_IsUnexpectedEOF(t *testing.T) {
	cl := newCluster(t, 1)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	cl.mirror(ref, randBytes(1<<20))
	cl.nodes[0].set(func(f *fakeNode) { f.dropDownloadAfter = 5000 })
	c := newClient(t, cl.tracker.addr())
	rc, err := c.Download(context.Background(), "app", "u1", "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	w, collect := tcpSink(t)
	n, err := rc.(io.WriterTo).WriteTo(w)
	collect()
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != 5000 {
		t.Fatalf("WriteTo = %d, %v; want 5000, ErrUnexpectedEOF", n, err)
	}
	// sticky
	if _, err := rc.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after a failed WriteTo succeeded")
	}
}

func TestDownload_WriteTo_PooledConnectionReused(t *testing.T) {
	cl := newCluster(t, 1)
	ref := proto.FileRef{AppID: "app", UserID: "u1", FileID: "f"}
	data := randBytes(300 << 10)
	cl.mirror(ref, data)
	c := newClient(t, cl.tracker.addr())
	for range 5 {
		rc, err := c.Download(context.Background(), "app", "u1", "f", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := rc.(io.WriterTo).WriteTo(&b); err != nil || !bytes.Equal(b.Bytes(), data) {
			t.Fatalf("WriteTo: %v", err)
		}
		rc.Close()
	}
	if a := cl.nodes[0].accepts.Load(); a != 1 {
		t.Errorf("storage node accepted %d connections for 5 downloads, want 1", a)
	}
}
