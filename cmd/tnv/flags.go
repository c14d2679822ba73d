package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// flags is the one place where settings are read: every flag has an
// environment fallback TNV_<NAME> (dashes become underscores), shown in --help.
type flags struct {
	*flag.FlagSet
	cmd    string
	envErr []string
	log    logFlags
}

func newFlags(cmd, synopsis string) *flags {
	fs := flag.NewFlagSet("tnv "+cmd, flag.ContinueOnError)
	f := &flags{FlagSet: fs, cmd: cmd}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tnv %s %s\n\nflags (each also read from the environment variable shown):\n", cmd, synopsis)
		fs.PrintDefaults()
	}
	f.addLogFlags()
	return f
}

func envName(name string) string {
	return "TNV_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (f *flags) env(name, usage string) (string, bool, string) {
	e := envName(name)
	v, ok := os.LookupEnv(e)
	return v, ok, fmt.Sprintf("%s [$%s]", usage, e)
}

// String defines a string flag with an environment fallback.
func (f *flags) String(name, def, usage string) *string {
	v, ok, u := f.env(name, usage)
	if ok {
		def = v
	}
	return f.FlagSet.String(name, def, u)
}

// Int64 defines an int64 flag with an environment fallback.
func (f *flags) Int64(name string, def int64, usage string) *int64 {
	return envFlag(f, name, def, usage, f.FlagSet.Int64, func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }, "a number")
}

// Duration defines a duration flag with an environment fallback.
func (f *flags) Duration(name string, def time.Duration, usage string) *time.Duration {
	return envFlag(f, name, def, usage, f.FlagSet.Duration, time.ParseDuration, "a duration")
}

// Bool defines a bool flag with an environment fallback.
func (f *flags) Bool(name string, def bool, usage string) *bool {
	return envFlag(f, name, def, usage, f.FlagSet.Bool, strconv.ParseBool, "a boolean")
}

// envFlag defines a flag with define and sets it from $TNV_NAME when that
// is set; a value parse refuses is noted for parse to report (what: "a
// number", "a duration", ...).
func envFlag[T any](f *flags, name string, def T, usage string, define func(string, T, string) *T,
	parse func(string) (T, error), what string) *T {
	v, ok, u := f.env(name, usage)
	p := define(name, def, u)
	if ok {
		if x, err := parse(v); err == nil {
			*p = x
		} else {
			f.envErr = append(f.envErr, fmt.Sprintf("$%s: %q is not %s", envName(name), v, what))
		}
	}
	return p
}

// onCommandLine returns the names of the flags given on the command line
// (the environment fallback only changes a flag's default).
func (f *flags) onCommandLine() map[string]bool {
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}

// parse parses args; a bad environment value or a missing required flag is
// one clear error line.
// parsePositional is parse for commands whose positional arguments may
// come before the flags as well as after (tnv admin user add KEY --db
// DSN); it returns them in order.
func (f *flags) parsePositional(args []string, required ...string) ([]string, error) {
	var pos []string
	for len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := f.parse(args, required...); err != nil {
		return nil, err
	}
	return append(pos, f.Args()...), nil
}

func (f *flags) parse(args []string, required ...string) error {
	// The flag package prints the whole usage after a bad flag; that is
	// for --help only. A bad flag is the one line main prints.
	help := false
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-h", "-help", "--h", "--help":
			help = true
		}
	}
	if !help {
		f.SetOutput(io.Discard)
		defer f.SetOutput(os.Stderr)
	}
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if len(f.envErr) > 0 {
		return fmt.Errorf("%s", f.envErr[0])
	}
	for _, r := range required {
		if fl := f.Lookup(r); fl != nil && fl.Value.String() == "" {
			return fmt.Errorf("--%s is required (or $%s)", r, envName(r))
		}
	}
	return nil
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
