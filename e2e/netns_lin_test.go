package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// A register per key, for porcupine: PUT writes a value no other PUT
// writes, GET returns the value or not-found, LIST (ListObjectsV2 with the
// key as prefix) returns the key's ETag or nothing, DELETE removes it. A
// GET or LIST that returns anything but the value of the last write
// linearized before it — an older value, a deleted object, a value never
// written — makes the history not linearizable.
type linInput struct {
	Op    string // "put", "get", "list", "delete"
	Key   string
	Value string // put
}

type linOutput struct {
	Found   bool
	Value   string // get
	ETag    string // list
	Unknown bool   // a put or delete that failed: it may or may not have happened
}

// linState is the register's value; "" is no object.
type linState = string

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(linInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(linState), input.(linInput), output.(linOutput)
		switch in.Op {
		case "put":
			return true, in.Value
		case "delete":
			return true, ""
		case "get":
			if !out.Found {
				return s == "", s
			}
			return out.Value == s, s
		case "list":
			if !out.Found {
				return s == "", s
			}
			return s != "" && out.ETag == etagOf(s), s
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		switch {
		case out.Unknown:
			return fmt.Sprintf("%s(%s) -> unknown (failed)", in.Op, in.Value)
		case in.Op == "put":
			return fmt.Sprintf("put(%s)", in.Value)
		case in.Op == "delete":
			return "delete"
		case !out.Found:
			return in.Op + " -> not found"
		case in.Op == "list":
			return "list -> etag " + out.ETag
		}
		return "get -> " + out.Value
	},
	DescribeState: func(state any) string {
		if state.(linState) == "" {
			return "(none)"
		}
		return state.(linState)
	},
}

func etagOf(v string) string {
	s := md5.Sum([]byte(v))
	return hex.EncodeToString(s[:])
}

// linHistory records operations with times relative to its start.
type linHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	// Per operation, failed reads too: what it was, when it was called.
	infos  []linInfo
	inputs []linInput
	calls  []int64
	rets   []int64
	seq    int
}

// linInfo is what an operation was, for the report.
type linInfo struct {
	GW   int
	Kind string // errKind of a failure; "" for success
}

func newLinHistory() *linHistory { return &linHistory{start: time.Now()} }

func (l *linHistory) now() int64 { return int64(time.Since(l.start)) }

// add records one operation. A failed GET or LIST observed nothing and is
// left out; a failed PUT or DELETE may have taken effect at any time after
// its call, so it returns "never" (the end of the history).
func (l *linHistory) add(client, gw int, in linInput, out linOutput, call, ret int64, kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, linInfo{GW: gw, Kind: kind})
	l.inputs = append(l.inputs, in)
	l.calls = append(l.calls, call)
	l.rets = append(l.rets, ret)
	if kind != "" {
		if in.Op == "get" || in.Op == "list" {
			return
		}
		out.Unknown = true
		ret = -1 // set at check time
	}
	l.ops = append(l.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret,
		Metadata: fmt.Sprintf("gateway%d", gw+1)})
}

// operations returns the history to check: failed writes end after every
// other operation.
func (l *linHistory) operations() []porcupine.Operation {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := l.now() + 1
	out := make([]porcupine.Operation, len(l.ops))
	for i, op := range l.ops {
		if op.Return < 0 {
			op.Return = end
		}
		out[i] = op
	}
	return out
}

// linValue is a value no other write of the run writes.
func (l *linHistory) linValue(client int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	return fmt.Sprintf("c%d-v%d-%s", client, l.seq, strings.Repeat("x", l.seq%37))
}

// linDo runs one operation through client c of gateway gw and records it.
func (l *linHistory) linDo(ctx context.Context, c *s3.Client, client, gw int, bucket string, in linInput) {
	call := l.now()
	var out linOutput
	var err error
	switch in.Op {
	case "put":
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(in.Key),
			Body: strings.NewReader(in.Value), ContentLength: aws.Int64(int64(len(in.Value)))})
	case "delete":
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(in.Key)})
	case "get":
		var o *s3.GetObjectOutput
		o, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(in.Key)})
		var nk *types.NoSuchKey
		switch {
		case errors.As(err, &nk):
			err = nil
		case err == nil:
			var b bytes.Buffer
			_, err = io.Copy(&b, io.LimitReader(o.Body, 1<<20))
			o.Body.Close()
			out.Found, out.Value = true, b.String()
		}
	case "list":
		var o *s3.ListObjectsV2Output
		o, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(in.Key)})
		if err == nil {
			for _, obj := range o.Contents {
				if aws.ToString(obj.Key) == in.Key {
					out.Found, out.ETag = true, strings.Trim(aws.ToString(obj.ETag), `"`)
				}
			}
		}
	}
	ret := l.now()
	kind := ""
	if err != nil {
		kind = errKind(err)
	}
	l.add(client, gw, in, out, call, ret, kind)
}

// linLoad runs clients workers, each picking a key of keys, a gateway and
// an operation at random (PUT 40 %, GET 30 %, LIST 15 %, DELETE 15 %), one
// after another with pause between, until stop is closed. It returns when
// every worker's last operation ended.
func (h *netnsHarness) linLoad(l *linHistory, keys []string, clients int, pause time.Duration, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), uint64(l.start.UnixNano())))
			for {
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
				in := linInput{Key: keys[rng.IntN(len(keys))]}
				switch p := rng.IntN(100); {
				case p < 40:
					in.Op, in.Value = "put", l.linValue(cl)
				case p < 70:
					in.Op = "get"
				case p < 85:
					in.Op = "list"
				default:
					in.Op = "delete"
				}
				gw := rng.IntN(len(h.s3))
				l.linDo(context.Background(), h.s3[gw], cl, gw, "netns", in)
			}
		}()
	}
	wg.Wait()
}
