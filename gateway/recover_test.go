package gateway

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPanic_InHandler_Answers500_GatewayServesNext: a handler that panics
// fails its request with S3's 500 InternalError (no panic text), and the
// gateway serves the next request.
func TestPanic_InHandler_Answers500_GatewayServesNext(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("pan")
	body := randBytes(10 << 10)
	e.put("pan", "k", body)
	hook := func(op string) {
		if op == "GetObject" {
			panic("injected by the test")
		}
	}
	testHandlerHook.Store(&hook)
	t.Cleanup(func() { testHandlerHook.Store(nil) })
	resp, b := e.signed("GET", "/pan/k", nil, nil)
	if resp.StatusCode != 500 || !strings.Contains(string(b), "<Code>InternalError</Code>") || strings.Contains(string(b), "injected") {
		t.Fatalf("GET that panicked: %d %s", resp.StatusCode, b)
	}
	testHandlerHook.Store(nil)
	if got := e.get("pan", "k"); !bytes.Equal(got, body) {
		t.Fatal("the GET after a panic differs")
	}
}

// TestPanic_InBodyStream_AbortsConnection_GatewayServesNext: a panic while
// a GET body streams (after the handler) resets that connection; the
// client sees an error, never a clean short body, and the gateway lives.
func TestPanic_InBodyStream_AbortsConnection_GatewayServesNext(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("pan")
	body := randBytes(4 << 20)
	e.put("pan", "k", body)
	hook := func() { panic("injected by the test") }
	testStreamHook.Store(&hook)
	t.Cleanup(func() { testStreamHook.Store(nil) })
	out, err := e.root().GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("pan"), Key: aws.String("k")})
	if err == nil {
		n, rerr := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if rerr == nil {
			t.Fatalf("GET whose body stream panicked: %d bytes and a clean end", n)
		}
	}
	testStreamHook.Store(nil)
	if got := e.get("pan", "k"); !bytes.Equal(got, body) {
		t.Fatal("the GET after a panic differs")
	}
}
