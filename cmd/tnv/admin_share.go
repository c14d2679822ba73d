package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/gateway/status"
)

const adminShareUsage = `usage:
  tnv admin share create --bucket B [--prefix P] --expires-in DURATION [--max-viewers N] [--rate BYTES_PER_S] [--endpoint URL] --db DSN
  tnv admin share list --db DSN
  tnv admin share revoke TOKEN|ID --db DSN`

// runAdminShare manages share links (docs/sharing.md) in the database,
// with the fields of POST /_tnv/share.
func runAdminShare(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return errors.New(adminShareUsage)
	}
	verb, rest := args[0], args[1:]
	f := newFlags("admin share "+verb, "[flags] (see tnv admin)")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH")
	bucket := f.String("bucket", "", "bucket to share (create)")
	prefix := f.String("prefix", "", "key prefix the link reaches (create)")
	expiresIn := f.Duration("expires-in", 0, "the link's life, e.g. 2h (create)")
	maxViewers := f.Int("max-viewers", 0, "distinct client addresses that may use the link, 0 = no limit (create)")
	rate := f.Int64("rate", 0, "bytes per second per viewer, 0 = no cap (create)")
	endpoint := f.String("endpoint", "", "the gateway's public URL, to print the link (create), e.g. https://s3.example.com")
	pos, err := f.parsePositional(rest, "db")
	if err != nil {
		return err
	}
	db, err := adminDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	out := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer out.Flush()
	switch verb {
	case "create":
		token, s, err := gateway.CreateShare(ctx, db, gateway.ShareOptions{Bucket: *bucket, Prefix: *prefix, ExpiresIn: *expiresIn,
			MaxViewers: *maxViewers, Rate: *rate, Owner: "(admin)"}, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "token:\t%s\nid:\t%s\nexpires:\t%s\n", token, s.Hash, s.Expires.Format(time.RFC3339))
		if *endpoint != "" {
			fmt.Fprintf(out, "url:\t%s\n", gateway.ShareURL(strings.TrimRight(*endpoint, "/"), token))
		}
	case "list":
		shares, err := gateway.ListShares(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "ID\tBUCKET\tPREFIX\tOWNER\tCREATED\tEXPIRES\tSTATE\tVIEWERS\tRATE")
		now := time.Now()
		for _, s := range shares {
			fmt.Fprintf(out, "%s\t%s\t%q\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Hash, s.Bucket, s.Prefix, s.Owner, s.Created.Format(time.RFC3339),
				s.Expires.Format(time.RFC3339), shareState(s, now), viewersOf(s), rateOf(s))
		}
	case "revoke":
		if len(pos) != 1 {
			return errors.New("usage: tnv admin share revoke TOKEN|ID --db DSN")
		}
		if err := gateway.RevokeShare(ctx, db, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(out, "revoked")
	default:
		return errors.New(adminShareUsage)
	}
	return nil
}

func shareState(s gateway.Share, now time.Time) string {
	switch {
	case s.Revoked:
		return "revoked"
	case !now.Before(s.Expires):
		return "expired"
	}
	return "active"
}

func viewersOf(s gateway.Share) string {
	if s.MaxViewers == 0 {
		return fmt.Sprintf("%d", s.Viewers)
	}
	return fmt.Sprintf("%d/%d", s.Viewers, s.MaxViewers)
}

func rateOf(s gateway.Share) string {
	if s.Rate == 0 {
		return "-"
	}
	return status.HumanBytes(s.Rate) + "/s"
}
