package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chunkedPut builds a PUT with an aws-chunked body by the SigV4 streaming
// spec, the seed signed by aws-sdk-go-v2's signer. mode is
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed chunks) or
// STREAMING-UNSIGNED-PAYLOAD-TRAILER (plain chunks, then a CRC32 trailer).
// spoil, if set, alters the encoded body before it is sent.
func (e *env) chunkedPut(path, mode string, data []byte, chunk int, crc uint32, spoil func([]byte) []byte) (*http.Response, []byte) {
	e.t.Helper()
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	req, err := http.NewRequest("PUT", e.endpoint+path, nil)
	must(e.t, err)
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("Content-Encoding", "aws-chunked")
	trailer := mode == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	if trailer {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	// The signer needs the final Content-Length, so build the body for a
	// placeholder seed first: every signature has the same length.
	build := func(seed string) []byte {
		var body bytes.Buffer
		prev := seed
		key := hmacSHA256(hmacSHA256(hmacSHA256(hmacSHA256([]byte("AWS4"+rootSK), day), region), "s3"), "aws4_request")
		scope := day + "/" + region + "/s3/aws4_request"
		for off := 0; ; off += chunk {
			end := min(off+chunk, len(data))
			c := data[off:end]
			if trailer {
				fmt.Fprintf(&body, "%x\r\n", len(c))
			} else {
				sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, prev, sha256hex(nil), sha256hex(c)}, "\n")
				prev = hex.EncodeToString(hmacSHA256(key, sts))
				fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", len(c), prev)
			}
			body.Write(c)
			if len(c) == 0 {
				if !trailer {
					body.WriteString("\r\n")
				}
				break
			}
			body.WriteString("\r\n")
			if end == len(data) {
				off = len(data) - chunk // the next round writes the final empty chunk
			}
		}
		if trailer {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], crc)
			fmt.Fprintf(&body, "x-amz-checksum-crc32:%s\r\n\r\n", base64.StdEncoding.EncodeToString(b[:]))
		}
		return body.Bytes()
	}
	req.ContentLength = int64(len(build(strings.Repeat("0", 64))))
	err = v4.NewSigner().SignHTTP(ctx(), aws.Credentials{AccessKeyID: rootAK, SecretAccessKey: rootSK}, req, mode, "s3", region, now)
	must(e.t, err)
	auth := req.Header.Get("Authorization")
	seed := auth[strings.LastIndex(auth, "Signature=")+len("Signature="):]
	body := build(seed)
	if spoil != nil {
		body = spoil(body)
	}
	return e.do("PUT", e.endpoint+path, headerMap(req.Header), body)
}

func headerMap(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		m[k] = v[0]
	}
	return m
}

// TestPut_AwsChunked_GoodBodiesStoredBadOnesRefusedAndNothingKept checks
// the streaming payload modes end to end through the gateway: a correct
// body is stored; a bad chunk signature is 403 and a bad trailing CRC32 is
// 400 BadDigest, and neither leaves an object or a blob behind.
func TestPut_AwsChunked_GoodBodiesStoredBadOnesRefusedAndNothingKept(t *testing.T) {
	store := newMemStore()
	e := newEnv(t, envOpt{store: store})
	e.mkBucket("bkt")
	data := randBytes(200<<10 + 7)
	good := crc32.ChecksumIEEE(data)

	for _, mode := range []string{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"} {
		resp, b := e.chunkedPut("/bkt/good-"+mode, mode, data, 64<<10, good, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: good body: %d %s", mode, resp.StatusCode, b)
		}
		if got := e.get("bkt", "good-"+mode); !bytes.Equal(got, data) {
			t.Fatalf("%s: stored %d bytes, differs", mode, len(got))
		}
	}
	before := store.count() // one blob per good object
	if before != 2 {
		t.Fatalf("%d blobs for 2 objects of one blob each", before)
	}

	// One chunk signature altered (the second chunk's last hex digit).
	resp, b := e.chunkedPut("/bkt/bad-sig", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", data, 64<<10, 0, func(body []byte) []byte {
		i := bytes.Index(body[100:], []byte(";chunk-signature=")) + 100 + len(";chunk-signature=") + 63
		if body[i] == '0' { // another hex digit, so that the frame stays well-formed
			body[i] = '1'
		} else {
			body[i] = '0'
		}
		return body
	})
	if resp.StatusCode != 403 || !strings.Contains(string(b), "SignatureDoesNotMatch") {
		t.Fatalf("bad chunk signature: %d %s", resp.StatusCode, b)
	}
	// A trailer whose CRC32 is not the body's.
	resp, b = e.chunkedPut("/bkt/bad-crc", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", data, 64<<10, good^1, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "BadDigest") {
		t.Fatalf("bad trailing CRC32: %d %s", resp.StatusCode, b)
	}
	// A chunk's bytes changed after signing.
	resp, b = e.chunkedPut("/bkt/bad-data", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", data, 64<<10, 0, func(body []byte) []byte {
		body[len(body)/2] ^= 0xff
		return body
	})
	if resp.StatusCode != 403 {
		t.Fatalf("altered chunk data: %d %s", resp.StatusCode, b)
	}
	for _, k := range []string{"bad-sig", "bad-crc", "bad-data"} {
		_, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k)})
		wantCode(t, err, "NotFound")
	}
	waitFor(t, func() bool { return store.count() == before })
}
