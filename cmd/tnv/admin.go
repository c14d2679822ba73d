package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tnv-s3/tnv/gateway"
	"github.com/tnv-s3/tnv/gateway/status"
	"github.com/tnv-s3/tnv/metadb"
)

func init() {
	register(command{name: "admin", summary: "manage S3 users and buckets in the metadata database", run: runAdmin})
}

const adminUsage = `usage:
  tnv admin user add [--access-key K] [--secret-key-file F] --db DSN   (generated and printed when not given)
  tnv admin user list --db DSN
  tnv admin user admin ACCESS_KEY on|off --db DSN                (may read /_tnv/status and /_tnv/metrics)
  tnv admin user remove ACCESS_KEY [--reassign-to KEY | --delete-buckets] --db DSN
                                     (refused while the user owns buckets, unless told what becomes of them)
  tnv admin bucket list --db DSN
  tnv admin bucket owner NAME ACCESS_KEY --db DSN              (hand a bucket to another user)
  tnv admin bucket public NAME on|off [--list] --db DSN      (on: a policy letting anyone read the objects,
                                     with --list also list them; off: removes the bucket's policy)
  tnv admin status --trackers A,B                               (groups and nodes, as the trackers see them)
  tnv admin share create|list|revoke …                          (share links, docs/sharing.md; tnv admin share for more)`

func runAdmin(ctx context.Context, args []string) error {
	if len(args) >= 1 && args[0] == "status" {
		return runAdminStatus(ctx, args[1:])
	}
	if len(args) >= 1 && args[0] == "share" {
		return runAdminShare(ctx, args[1:])
	}
	if len(args) < 2 {
		return errors.New(adminUsage)
	}
	what, verb, rest := args[0], args[1], args[2:]
	f := newFlags("admin "+what+" "+verb, "[flags] [ARGS] (see tnv admin)")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH")
	var ak *string
	var sk *secretFlag
	var isAdmin *bool
	if what == "user" && verb == "add" {
		ak = f.String("access-key", "", "access key of the new user (generated when empty)")
		sk = f.secret("secret-key", "secret key of the new user (generated when empty)")
		isAdmin = f.Bool("admin", false, "the user may read the cluster's status and metrics (/_tnv/status, /_tnv/metrics)")
	}
	var reassign *string
	var deleteBuckets *bool
	if what == "user" && verb == "remove" {
		reassign = f.String("reassign-to", "", "hand the user's buckets to this user")
		deleteBuckets = f.Bool("delete-buckets", false, "delete the user's buckets (refused if one holds objects)")
	}
	var listToo *bool
	if what == "bucket" && verb == "public" {
		listToo = f.Bool("list", false, "anyone may also list the bucket (s3:ListBucket)")
	}
	pos, err := f.parsePositional(rest, "db")
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	var secret string
	if sk != nil {
		if secret, err = sk.get(log); err != nil {
			return err
		}
	}
	db, err := adminDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	out := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer out.Flush()
	switch what + " " + verb {
	case "user add":
		if *ak == "" {
			*ak = "TNV" + randomAlnum(17)
		}
		if secret == "" {
			secret = randomAlnum(40)
		}
		if err := gateway.AddUser(ctx, db, *ak, secret); err != nil {
			return err
		}
		if *isAdmin {
			if err := gateway.SetUserAdmin(ctx, db, *ak, true); err != nil {
				return err
			}
		}
		if sk.given() { // the user has it; printed, it would stay in the terminal
			fmt.Fprintf(out, "access key:\t%s\n", *ak)
		} else {
			fmt.Fprintf(out, "access key:\t%s\nsecret key:\t%s\n", *ak, secret)
		}
	case "user list":
		users, err := gateway.ListUsers(ctx, db)
		if err != nil {
			return err
		}
		admins, err := gateway.Admins(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "ACCESS KEY\tCREATED\tADMIN")
		for _, u := range users {
			fmt.Fprintf(out, "%s\t%s\t%v\n", u.AccessKey, u.Created.Format(time.RFC3339), admins[u.AccessKey])
		}
	case "user admin":
		if len(pos) != 2 || (pos[1] != "on" && pos[1] != "off") {
			return errors.New("usage: tnv admin user admin ACCESS_KEY on|off --db DSN")
		}
		return gateway.SetUserAdmin(ctx, db, pos[0], pos[1] == "on")
	case "user remove":
		if len(pos) != 1 {
			return errors.New("usage: tnv admin user remove ACCESS_KEY [--reassign-to KEY | --delete-buckets] --db DSN")
		}
		opt := gateway.RemoveUserOptions{ReassignTo: *reassign, DeleteBuckets: *deleteBuckets}
		buckets, err := gateway.RemoveUser(ctx, db, pos[0], opt)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "removed user %s\n", pos[0])
		for _, b := range buckets {
			if opt.ReassignTo != "" {
				fmt.Fprintf(out, "bucket %s now owned by %s\n", b, opt.ReassignTo)
			} else {
				fmt.Fprintf(out, "bucket %s deleted\n", b)
			}
		}
	case "bucket owner":
		if len(pos) != 2 {
			return errors.New("usage: tnv admin bucket owner NAME ACCESS_KEY --db DSN")
		}
		if err := gateway.SetBucketOwner(ctx, db, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "bucket %s now owned by %s\n", pos[0], pos[1])
	case "bucket list":
		bs, err := gateway.ListBuckets(ctx, db, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "NAME\tOBJECTS\tSIZE\tAPPID\tOWNER\tCREATED\tPUBLIC POLICY\tCORS")
		for _, b := range bs {
			n, size, err := gateway.BucketUsage(ctx, db, b.Name)
			if err != nil {
				return err
			}
			public, err := gateway.BucketPublic(ctx, db, &b)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\t%d\t%s\t%s\t%s\t%s\t%v\t%v\n", b.Name, n, status.HumanBytes(size), b.AppID, b.Owner,
				b.Created.Format(time.RFC3339), public, b.CORS != "")
		}
	case "bucket public":
		if len(pos) != 2 || (pos[1] != "on" && pos[1] != "off") {
			return errors.New("usage: tnv admin bucket public NAME on|off [--list] --db DSN")
		}
		if err := gateway.SetBucketPublic(ctx, db, pos[0], pos[1] == "on", *listToo); err != nil {
			return err
		}
		if pos[1] == "on" {
			fmt.Fprintf(out, "bucket %s: policy set: anyone may read its objects%s (tnv gateways apply it within 2 s)\n", pos[0], map[bool]string{true: " and list them", false: ""}[*listToo])
		} else {
			fmt.Fprintf(out, "bucket %s: policy removed\n", pos[0])
		}
	default:
		return errors.New(adminUsage)
	}
	return nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// runAdminStatus prints the cluster's groups and nodes as a table.
func runAdminStatus(ctx context.Context, args []string) error {
	f := newFlags("admin status", "--trackers A,B")
	trackers := f.String("trackers", "127.0.0.1:21000", "tracker addresses, comma-separated")
	link := f.linkFlags("", false)
	if err := f.parse(args, "trackers"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	c, err := link.newClient(list(*trackers), log)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	text, err := c.Groups(ctx)
	if err != nil {
		return err
	}
	out := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer out.Flush()
	num := func(n int64) string { // -1 is unknown
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	pct := func(p int) string {
		if p < 0 {
			return "-"
		}
		return fmt.Sprintf("%d%%", p)
	}
	for _, g := range status.Parse(text) {
		fmt.Fprintf(out, "group %s\t%d of %d nodes readable\tfree %s of %s\n", g.Name, g.Read, g.NodeCount,
			status.HumanBytes(g.Free), status.HumanBytes(g.Total))
		fmt.Fprintln(out, "  NODE\tSTATE\tSYNC\tHEALTH\tPROGRESS\tLAG\tFREE\tTOTAL\tLAST BEAT")
		for _, n := range g.Nodes {
			beat := "never"
			if n.BeatAge >= 0 {
				beat = fmt.Sprintf("%ds ago", n.BeatAge)
			}
			health := n.Health
			if health == "" {
				health = "-"
			}
			fmt.Fprintf(out, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Addr, n.State, n.Sync, health,
				pct(n.Progress), num(n.Lag), status.HumanBytes(n.Free), status.HumanBytes(n.Total), beat)
		}
	}
	return nil
}

// adminDB opens the metadata database of an admin command and brings the
// gateway's tables up to date.
func adminDB(ctx context.Context, dsn string) (*metadb.DB, error) {
	db, err := metadb.Open(dsn)
	if err != nil {
		return nil, err
	}
	if err := gateway.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
