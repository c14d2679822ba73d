package storagenode

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// HOLD (80): the S3 gateway holds the files of object-locked versions, so
// that not even a DELETE (73) straight through the TNV protocol removes
// them while the lock lasts. A hold is the group's (t_group_hold, in the
// database the group's members share, as the group log), so whichever
// member a DELETE reaches refuses it.

// handleHold serves HOLD: until > 0 holds the file until then (Unix
// seconds), -1 until released, 0 releases it.
func (s *Server) handleHold(c *conn, h proto.Header) (bool, error) {
	b, err := c.readBody(h)
	if err != nil {
		return false, nil
	}
	hd, err := proto.DecodeHold(b)
	if err != nil {
		var re *proto.ErrorReply
		if errors.As(err, &re) {
			return true, re
		}
		return true, decodeErr(err)
	}
	if err := checkRef(hd.FileRef); err != nil {
		return true, err
	}
	ctx, cancel := s.dbctx()
	defer cancel()
	ref := hd.FileRef
	err = s.db.RetryTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM t_group_hold WHERE grp = ? AND appid = ? AND userid = ? AND fileid = ?",
			s.cfg.Group, ref.AppID, ref.UserID, ref.FileID); err != nil {
			return err
		}
		if hd.Until == proto.HoldRelease {
			return nil
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO t_group_hold (grp, appid, userid, fileid, until_time) VALUES (?, ?, ?, ?, ?)",
			s.cfg.Group, ref.AppID, ref.UserID, ref.FileID, hd.Until)
		return err
	})
	if err != nil {
		return true, err
	}
	s.log.Debug("storage: hold", "appid", ref.AppID, "userid", ref.UserID, "fileid", ref.FileID, "until", hd.Until)
	return true, c.reply(nil)
}

// checkHold refuses the DELETE of a held file with EPERM.
func (s *Server) checkHold(ctx context.Context, ref proto.FileRef) error {
	var until int64
	err := s.st.holdGet.QueryRowContext(ctx, s.cfg.Group, ref.AppID, ref.UserID, ref.FileID).Scan(&until)
	switch {
	case err == sql.ErrNoRows:
		return nil
	case err != nil:
		return err
	case until == proto.HoldForever:
		return proto.Errorf(proto.EPERM, "file %s/%s/%s is held until released", ref.AppID, ref.UserID, ref.FileID)
	case until > s.nowUnix():
		return proto.Errorf(proto.EPERM, "file %s/%s/%s is held until %s", ref.AppID, ref.UserID, ref.FileID, time.Unix(until, 0).UTC().Format(time.RFC3339))
	}
	return nil
}
