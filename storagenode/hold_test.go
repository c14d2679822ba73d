package storagenode

import (
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/clocktest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

func hold(addr string, r proto.FileRef, until int64) error {
	body, err := (&proto.Hold{FileRef: r, Until: until}).Encode()
	if err != nil {
		return err
	}
	_, err = request(addr, proto.CmdStorageHold, body, 0)
	return err
}

// TestHold_DeleteRefusedOnEveryMemberUntilReleasedOrOver: a raw TNV client
// holds a file through one member; a DELETE through any member is refused
// with EPERM while the hold lasts (until a time, or until released).
func TestHold_DeleteRefusedOnEveryMemberUntilReleasedOrOver(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *metadb.DB) {
		e := newEnv(t, db)
		clock := clocktest.New(time.Time{})
		ns := e.startGroup(2, func(c *Config) { c.Now = clock.Now })
		a, b := ns[0], ns[1]
		timed, forever := ref("held-timed"), ref("held-forever")
		for _, r := range []proto.FileRef{timed, forever} {
			if err := upload(a.addr, r, []byte("locked bytes")); err != nil {
				t.Fatal(err)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(hold(a.addr, timed, clock.Now().Add(time.Hour).Unix()))
		must(hold(b.addr, forever, proto.HoldForever))
		for _, n := range ns {
			wantErrno(t, del(n.addr, timed), proto.EPERM, "delete of a file held for an hour via "+n.addr)
			wantErrno(t, del(n.addr, forever), proto.EPERM, "delete of a file held until released via "+n.addr)
		}
		if got, err := download(b.addr, timed, 0, 0); err != nil || string(got) != "locked bytes" {
			t.Fatalf("held file after refused deletes: %q %v", got, err)
		}
		// shortened (governance bypass): over at once
		must(hold(b.addr, timed, clock.Now().Add(time.Minute).Unix()))
		wantErrno(t, del(a.addr, timed), proto.EPERM, "delete within the shortened hold")
		clock.Advance(2 * time.Minute)
		must(del(a.addr, timed))
		// held until released: time does not help, a release does
		clock.Advance(24 * time.Hour)
		wantErrno(t, del(a.addr, forever), proto.EPERM, "delete of a file held until released, a day later")
		must(hold(a.addr, forever, proto.HoldRelease))
		must(del(b.addr, forever))

		// bad bodies: a negative time other than -1, a bad file ID
		bad, _ := (&proto.Hold{FileRef: timed, Until: 5}).Encode()
		bad[len(bad)-1] = 0xFE // until = ...FE: negative
		for i := proto.FileRefLen; i < len(bad)-1; i++ {
			bad[i] = 0xFF
		}
		_, err := request(a.addr, proto.CmdStorageHold, bad, 0)
		wantErrno(t, err, proto.EINVAL, "hold until -2")
		wantErrno(t, hold(a.addr, proto.FileRef{AppID: "a", UserID: "u", FileID: "../x"}, 1), proto.EINVAL, "hold of a bad file ID")
	})
}
