package gateway

import (
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// FuzzParseVersioning: a VersioningConfiguration is refused with a 4xx
// (or MFA delete's 501) or is Enabled or Suspended, and renders back to
// the same state.
func FuzzParseVersioning(f *testing.F) {
	f.Add([]byte(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>`))
	f.Add([]byte(`<VersioningConfiguration/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersioning(b)
		if err != nil {
			var se *s3Error
			if errors.As(err, &se) && se.Code == s3err.NotImplemented {
				return
			}
			s3Refusal(t, err)
			return
		}
		if v != index.VersioningEnabled && v != index.VersioningSuspended {
			t.Fatalf("accepted state %d", v)
		}
		doc := versioningConfiguration{Status: "Enabled"}
		if v == index.VersioningSuspended {
			doc.Status = "Suspended"
		}
		out, _ := xml.Marshal(doc)
		if again, err := parseVersioning(out); err != nil || again != v {
			t.Fatalf("round trip: %d %v, want %d", again, err, v)
		}
	})
}

// FuzzParseLockConfig: an ObjectLockConfiguration is refused with a 4xx
// or has a valid default retention (none, or a mode and one positive
// period), which renders back to itself.
func FuzzParseLockConfig(f *testing.F) {
	f.Add([]byte(`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>`))
	f.Add([]byte(`<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>`))
	f.Add([]byte(`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>1</Years></DefaultRetention></Rule></ObjectLockConfiguration>`))
	f.Add([]byte(`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>-1</Days></DefaultRetention></Rule></ObjectLockConfiguration>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseLockConfig(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		switch {
		case cfg.Mode == "" && (cfg.Days != 0 || cfg.Years != 0):
			t.Fatalf("a period without a mode: %+v", cfg)
		case cfg.Mode != "" && cfg.Mode != index.Governance && cfg.Mode != index.Compliance:
			t.Fatalf("mode %q", cfg.Mode)
		case cfg.Mode != "" && (cfg.Days > 0) == (cfg.Years > 0):
			t.Fatalf("periods %+v", cfg)
		case cfg.Days < 0 || cfg.Years < 0 || cfg.Days > 36500 || cfg.Years > 100:
			t.Fatalf("periods %+v", cfg)
		}
		doc := objectLockConfiguration{ObjectLockEnabled: "Enabled"}
		if cfg.Mode != "" {
			d := &defaultRetention{Mode: cfg.Mode}
			if cfg.Days > 0 {
				d.Days = &cfg.Days
			} else {
				d.Years = &cfg.Years
			}
			doc.Rule = &struct {
				DefaultRetention *defaultRetention `xml:"DefaultRetention"`
			}{d}
		}
		out, _ := xml.Marshal(doc)
		if again, err := parseLockConfig(out); err != nil || *again != *cfg {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, cfg)
		}
	})
}

// FuzzParseRetention: a Retention is refused with a 4xx or is empty or a
// mode with a date after now.
func FuzzParseRetention(f *testing.F) {
	f.Add([]byte(`<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>`))
	f.Add([]byte(`<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>COMPLIANCE</Mode><RetainUntilDate>2099-01-01T00:00:00.123+02:00</RetainUntilDate></Retention>`))
	f.Add([]byte(`<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>`))
	f.Add([]byte(`<Retention/>`))
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseRetention(b, now)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if l.LegalHold || (l.Mode == "") != l.Until.IsZero() || (l.Mode != "" && (!l.Until.After(now) || l.Mode != index.Governance && l.Mode != index.Compliance)) {
			t.Fatalf("accepted %+v", l)
		}
		if l.Mode == "" {
			return
		}
		out, _ := xml.Marshal(retention{Mode: l.Mode, RetainUntilDate: isoTime(l.Until)})
		if again, err := parseRetention(out, now); err != nil || again != l {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, l)
		}
	})
}

// FuzzParseLegalHold: a LegalHold is refused with a 4xx or is ON or OFF.
func FuzzParseLegalHold(f *testing.F) {
	f.Add([]byte(`<LegalHold><Status>ON</Status></LegalHold>`))
	f.Add([]byte(`<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>OFF</Status></LegalHold>`))
	f.Add([]byte(`<LegalHold><Status>on</Status></LegalHold>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		on, err := parseLegalHold(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		st := "OFF"
		if on {
			st = "ON"
		}
		out, _ := xml.Marshal(legalHold{Status: st})
		if again, err := parseLegalHold(out); err != nil || again != on {
			t.Fatalf("round trip: %v %v, want %v", again, err, on)
		}
	})
}
