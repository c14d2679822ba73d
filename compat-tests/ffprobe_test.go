package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The test videos, made once per test binary with Debian's ffmpeg: 10 s of
// test pattern (640x360, 25 fps, H.264) with a sine tone (AAC).
var (
	mediaOnce sync.Once
	mediaMP4  map[string]string // "faststart" (moov first), "moov-at-end"
	mediaErr  error
)

func testVideos(t testing.TB) map[string]string {
	t.Helper()
	ffmpeg := tool(t, "ffmpeg (apt ffmpeg)", "/usr/bin/ffmpeg", "ffmpeg")
	mediaOnce.Do(func() {
		dir := filepath.Join(workDir, "media")
		os.MkdirAll(dir, 0o755)
		m := map[string]string{}
		for _, v := range []struct {
			name string
			args []string
		}{
			{"faststart", []string{"-movflags", "+faststart"}},
			{"moov-at-end", nil},
		} {
			out := filepath.Join(dir, v.name+".mp4")
			args := []string{"-hide_banner", "-loglevel", "error", "-y",
				"-f", "lavfi", "-i", "testsrc=duration=10:size=640x360:rate=25",
				"-f", "lavfi", "-i", "sine=frequency=440:duration=10",
				"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
				"-c:a", "aac", "-b:a", "96k", "-shortest"}
			args = append(append(args, v.args...), out)
			o := runCmd(t, baseEnv(), dir, 3*time.Minute, ffmpeg, args...)
			if o.Err != nil {
				mediaErr = fmt.Errorf("ffmpeg %v: %v\n%s", args, o.Err, o.Stderr)
				return
			}
			m[v.name] = out
		}
		mediaMP4 = m
	})
	if mediaErr != nil {
		t.Fatal(mediaErr)
	}
	return mediaMP4
}

// moovFirst reports whether the MP4's moov box comes before its mdat box.
func moovFirst(t testing.TB, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, d := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat"))
	if m < 0 || d < 0 {
		t.Fatalf("%s: no moov or mdat box", path)
	}
	return m < d
}

// uploadPresigned uploads a file with aws-sdk-go-v2 and returns a presigned
// GET URL (aws-sdk-go-v2's presigner) valid for an hour.
func uploadPresigned(t testing.TB, bucket, key, path, contentType string) string {
	t.Helper()
	c := endpoint(t).client()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f, ContentType: aws.String(contentType)})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	req, err := s3.NewPresignClient(c).PresignGetObject(context.Background(),
		&s3.GetObjectInput{Bucket: &bucket, Key: &key}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return req.URL
}

func TestFFprobe(t *testing.T) {
	ffprobe := tool(t, "ffprobe (apt ffmpeg)", "/usr/bin/ffprobe", "ffprobe")
	videos := testVideos(t)
	bucket := newBucket(t, "ffprobe")
	for _, name := range []string{"faststart", "moov-at-end"} {
		t.Run(name, func(t *testing.T) {
			path := videos[name]
			if first := moovFirst(t, path); first != (name == "faststart") {
				t.Fatalf("%s: moov first = %v", path, first)
			}
			url := uploadPresigned(t, bucket, "video/"+name+".mp4", path, "video/mp4")
			o := mustRun(t, baseEnv(), "", 2*time.Minute, ffprobe, "-v", "error",
				"-show_entries", "format=duration,size:stream=codec_type,codec_name", "-of", "json", url)
			var probe struct {
				Format  struct{ Duration, Size string }
				Streams []struct {
					CodecType string `json:"codec_type"`
					CodecName string `json:"codec_name"`
				}
			}
			if err := json.Unmarshal([]byte(o.Stdout), &probe); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, o.Stdout)
			}
			if o.Stderr != "" {
				t.Errorf("ffprobe reported errors:\n%s", o.Stderr)
			}
			d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
			fi, _ := os.Stat(path)
			if d < 9.5 || d > 10.5 {
				t.Errorf("ffprobe duration %q, want about 10 s", probe.Format.Duration)
			}
			if probe.Format.Size != strconv.FormatInt(fi.Size(), 10) {
				t.Errorf("ffprobe size %q, want %d", probe.Format.Size, fi.Size())
			}
			kinds := map[string]string{}
			for _, s := range probe.Streams {
				kinds[s.CodecType] = s.CodecName
			}
			diffMaps(t, "ffprobe streams", map[string]string{"video": "h264", "audio": "aac"}, kinds)
			t.Logf("ffprobe through a presigned URL: %s s, streams %v", probe.Format.Duration, kinds)
		})
	}
}
