package tnv

import (
	"context"
	"fmt"

	"github.com/tnv-s3/tnv/proto"
)

// Hold holds the file against deletion until the Unix time until
// (proto.HoldForever: until released; proto.HoldRelease: release it): a
// DELETE of a held file fails with a proto.EPERM error reply. The hold is
// the file's group's.
func (c *Client) Hold(ctx context.Context, appid, userid, fileid string, until int64) error {
	ref, err := fileRef(appid, userid, fileid)
	if err != nil {
		return fmt.Errorf("tnv: hold: %w", err)
	}
	body, err := (&proto.Hold{FileRef: ref, Until: until}).Encode()
	if err != nil {
		return fmt.Errorf("tnv: hold: %w", err)
	}
	_, err = c.onNodes(ctx, "hold", ref, false, nil, func(addr string) error {
		return c.with(ctx, addr, nil, func(cn *conn) error {
			_, err := request(cn, proto.CmdStorageHold, proto.CmdStorageReply, body, 0)
			return err
		})
	})
	return err
}
