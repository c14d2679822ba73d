package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// TestUp_KillDuringPuts: `tnv up` SIGKILLed under small PUTs (new keys
// and overwrites of a few hot ones, its uploads staged and committed with
// their index rows) and started again on the same directory serves every
// acknowledged PUT byte for byte; a key whose last PUT was cut off holds
// either what was acknowledged before or the cut-off PUT's whole body,
// never an error or other bytes; and nothing that was never written
// appears.
func TestUp_KillDuringPuts(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data", "data", "--s3-addr", "127.0.0.1:0", "--access-key", "killkey", "--secret-key", "killsecret-0123456789"}
	u := startUp(t, dir, args...)
	ctx := context.Background()
	c := s3Client(u.endpoint, "killkey", "killsecret-0123456789")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("kill")}); err != nil {
		t.Fatal(err)
	}

	// What each key may hold: the last acknowledged body, and the bodies
	// of PUTs after it whose answer never came.
	type state struct {
		acked   []byte
		maybe   [][]byte
		written bool // a PUT of it was acknowledged
	}
	var mu sync.Mutex
	keys := map[string]*state{}
	put := func(key string, body []byte) {
		mu.Lock()
		st := keys[key]
		if st == nil {
			st = &state{}
			keys[key] = st
		}
		mu.Unlock()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kill"), Key: aws.String(key), Body: bytes.NewReader(body)})
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			st.acked, st.maybe, st.written = body, nil, true
		} else {
			st.maybe = append(st.maybe, body)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d/%05d", w, i)
				if i%3 == 2 {
					key = fmt.Sprintf("hot/%d", w) // overwrites, one writer each: its acknowledgements are in commit order
				}
				body := make([]byte, 1024+rng.IntN(7*1024))
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				put(key, body)
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := u.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-u.done
	close(stop)
	wg.Wait()

	u = startUp(t, dir, args...)
	c = s3Client(u.endpoint, "killkey", "killsecret-0123456789")
	acked, cut := 0, 0
	for key, st := range keys {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kill"), Key: aws.String(key)})
		var got []byte
		if err == nil {
			got, err = io.ReadAll(out.Body)
			out.Body.Close()
		}
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey":
			if st.written {
				t.Errorf("%s: acknowledged, gone after the restart", key)
			}
			continue
		case err != nil:
			t.Errorf("%s: %v", key, err)
			continue
		}
		if st.written && bytes.Equal(got, st.acked) {
			acked++
			continue
		}
		ok := false
		for _, b := range st.maybe {
			ok = ok || bytes.Equal(got, b)
		}
		if !ok {
			t.Errorf("%s: %d bytes that no PUT of it sent (acknowledged before the kill: %v)", key, len(got), st.written)
		}
		cut++
	}
	if acked < 50 {
		t.Fatalf("only %d acknowledged PUTs before the kill: the load did not run", acked)
	}
	t.Logf("%d keys: %d hold their acknowledged bytes, %d a PUT cut off by the kill", len(keys), acked, cut)
	// Nothing that was never written is listed.
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("kill")})
	if err != nil {
		t.Fatal(err)
	}
	for lo != nil {
		for _, o := range lo.Contents {
			if keys[*o.Key] == nil {
				t.Errorf("listed %s, never written", *o.Key)
			}
		}
		if lo.NextContinuationToken == nil {
			break
		}
		if lo, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("kill"), ContinuationToken: lo.NextContinuationToken}); err != nil {
			t.Fatal(err)
		}
	}
	u.stop(t)
}
