package tnv

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// A pooled connection that the server closes just as a request goes out
// (after the checkout's liveness check): the request is sent again on a new
// connection, for every kind of request, and no node is taken for down.
func TestPool_StaleConnectionIsRedialed(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	ctx := context.Background()
	node := cl.nodes[0]
	data := randBytes(10 << 10)
	if err := c.Upload(ctx, "app", "u1", "f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"FileSize", func() error { _, err := c.FileSize(ctx, "app", "u1", "f"); return err }},
		{"Download", func() error {
			rc, err := c.Download(ctx, "app", "u1", "f", 0, 0)
			if err != nil {
				return err
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err == nil && !bytes.Equal(got, data) {
				t.Errorf("download: %d bytes differ", len(got))
			}
			return err
		}},
		{"Upload (seekable body)", func() error {
			return c.Upload(ctx, "app", "u1", "g", bytes.NewReader(data), int64(len(data)))
		}},
		{"Delete", func() error { return c.Delete(ctx, "app", "u1", "g") }},
	}
	for _, st := range steps {
		before := node.accepts.Load()
		node.dropRequests.Store(1)
		if err := st.run(); err != nil {
			t.Fatalf("%s on a connection the server closed: %v", st.name, err)
		}
		if node.dropRequests.Load() != 0 {
			t.Fatalf("%s: the pooled connection was not used", st.name)
		}
		if a := node.accepts.Load() - before; a != 1 {
			t.Fatalf("%s: %d new connections, want 1 (the redial)", st.name, a)
		}
		if c.isDown(node.addr()) {
			t.Fatalf("%s: node marked down for a stale pooled connection", st.name)
		}
	}
	// The tracker's connections are redialed too.
	cl.tracker.dropRequests.Store(1)
	c.forget("app", "u2")
	if _, _, err := c.Locate(ctx, "app", "u2", "f"); err != nil {
		t.Fatalf("Locate on a connection the tracker closed: %v", err)
	}
}

// Unhappy path: a body consumed from a plain reader beyond what Upload
// keeps to send again (replayMax) cannot be sent again: when the node drops
// the connection after that much, the upload fails instead of sending a
// partial body on a new connection.
func TestPool_ConsumedUploadNotReplayed(t *testing.T) {
	cl := newCluster(t, 1)
	c := newClient(t, cl.tracker.addr())
	ctx := context.Background()
	data := randBytes(2 * replayMax)
	if err := c.Upload(ctx, "app", "u1", "f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	node := cl.nodes[0]
	node.mu.Lock()
	node.dropUploadAfter = replayMax + replayMax/2
	node.mu.Unlock()
	before := node.accepts.Load()
	err := c.Upload(ctx, "app", "u1", "g", io.MultiReader(bytes.NewReader(data)), int64(len(data)))
	if err == nil {
		t.Fatal("an upload whose body was consumed past replayMax succeeded after the connection was dropped")
	}
	if a := node.accepts.Load() - before; a != 0 {
		t.Fatalf("%d new connections: the consumed body was sent again", a)
	}
}

func (c *Client) isDown(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.down[addr])
}
