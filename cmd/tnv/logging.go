package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// logFlags are registered on every command: --log-format text|json and
// --log-level debug|info|warn|error.
type logFlags struct {
	format *string
	level  *string
}

func (f *flags) addLogFlags() {
	f.log.format = f.String("log-format", "text", "log format: text or json")
	f.log.level = f.String("log-level", "info", "log level: debug, info, warn or error")
}

// logger builds the logger the flags ask for and makes it the default.
func (f *flags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*f.log.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", *f.log.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(*f.log.format) {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", *f.log.format)
	}
	l := slog.New(h).With("cmd", f.cmd)
	slog.SetDefault(l)
	return l, nil
}
