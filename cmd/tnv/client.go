package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
)

func init() {
	register(command{name: "client", summary: "the TNV client: upload, download, filesize, delete, groups", run: runClient})
}

const clientSynopsis = `--trackers A,B <op> [flags] [FILE]

ops:
  upload   --appid A --userid U [--fileid F] FILE    prints the file ID (FILE "-" = stdin, needs --size)
  download --appid A --userid U --fileid F [--offset N] [--size M] [-o FILE]   (stdout by default)
  filesize --appid A --userid U --fileid F
  delete   --appid A --userid U --fileid F
  groups                                             the tracker's GROUPS text`

// runClient parses the flags common to every op, then the op's own. Flags may
// come before or after the op name.
func runClient(ctx context.Context, args []string) error {
	f := newFlags("client", clientSynopsis)
	trackers := f.String("trackers", "127.0.0.1:21000", "tracker addresses, comma-separated")
	appid := f.String("appid", "", "application ID")
	userid := f.String("userid", "", "user ID")
	fileid := f.String("fileid", "", "file ID (upload: chosen at random when empty)")
	offset := f.Int64("offset", 0, "download: first byte")
	size := f.Int64("size", 0, "download: bytes to read (0 = to the end); upload from stdin: the byte count")
	out := f.String("o", "", "download: write to this file instead of stdout")
	timeout := f.Duration("timeout", 0, "give up after this long (0 = never)")
	link := f.linkFlags("", false)
	if err := f.parse(args); err != nil {
		return err
	}
	rest := f.Args()
	if len(rest) == 0 {
		f.Usage()
		return errors.New("no op given")
	}
	op := rest[0]
	// Flags after the op name.
	if err := f.parse(rest[1:]); err != nil {
		return err
	}
	rest = f.Args()
	log, err := f.logger()
	if err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	c, err := link.newClient(list(*trackers), log)
	if err != nil {
		return err
	}
	defer c.Close()

	need := func(names ...string) error {
		vals := map[string]string{"appid": *appid, "userid": *userid, "fileid": *fileid}
		for _, n := range names {
			if vals[n] == "" {
				return fmt.Errorf("%s: --%s is required", op, n)
			}
		}
		return nil
	}
	switch op {
	case "upload":
		if err := need("appid", "userid"); err != nil {
			return err
		}
		if len(rest) != 1 {
			return errors.New("upload: exactly one FILE (or -) expected")
		}
		id := *fileid
		if id == "" {
			id = tnv.NewFileID()
		}
		r, n, closeFn, err := openUpload(rest[0], *size)
		if err != nil {
			return err
		}
		defer closeFn()
		start := time.Now()
		if err := c.Upload(ctx, *appid, *userid, id, r, n); err != nil {
			return err
		}
		log.Debug("uploaded", "fileid", id, "bytes", n, "duration", time.Since(start))
		fmt.Println(id)
		return nil
	case "download":
		if err := need("appid", "userid", "fileid"); err != nil {
			return err
		}
		var w io.Writer = os.Stdout
		var tmp *os.File
		if *out != "" && *out != "-" {
			// Written beside the target and renamed, so a failed download
			// leaves no partial file under the name asked for.
			tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".part-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			w = tmp
		}
		if _, err := c.DownloadTo(ctx, *appid, *userid, *fileid, *offset, *size, w); err != nil {
			return err
		}
		if tmp != nil {
			if err := tmp.Close(); err != nil {
				return err
			}
			return os.Rename(tmp.Name(), *out)
		}
		return nil
	case "filesize":
		if err := need("appid", "userid", "fileid"); err != nil {
			return err
		}
		n, err := c.FileSize(ctx, *appid, *userid, *fileid)
		if err != nil {
			return err
		}
		fmt.Println(n)
		return nil
	case "delete":
		if err := need("appid", "userid", "fileid"); err != nil {
			return err
		}
		return c.Delete(ctx, *appid, *userid, *fileid)
	case "groups":
		s, err := c.Groups(ctx)
		if err != nil {
			return err
		}
		fmt.Print(s)
		return nil
	}
	f.Usage()
	return fmt.Errorf("unknown op %q", op)
}

// openUpload opens FILE (or stdin for "-", whose size must be given).
func openUpload(name string, size int64) (io.Reader, int64, func(), error) {
	if name == "-" {
		if size <= 0 {
			return nil, 0, nil, errors.New("upload from stdin: --size is required")
		}
		return os.Stdin, size, func() {}, nil
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, 0, nil, fmt.Errorf("upload: %s is not a regular file", name)
	}
	return fh, st.Size(), func() { fh.Close() }, nil
}
