package cli

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/heraldhq/herald/internal/jobfile"
	"gopkg.in/yaml.v3"
)

const jobsArgs = "ls [--jobs DIR] | show JOB [--stage S] [--set KEY=VALUE]... [--githash SHA] [--jobs DIR]"

const jobsHelp = `Show the job files of the jobs directory (--jobs DIR, $HERALD_JOBS, default
./jobs), as herald deploy reads them. Needs no NATS.

  ls         one line per job: JOB, CLUSTER, ROLE, STAGES (the default
             stage marked *) and HOOKS (whether scope: job hooks are
             enabled, per stage). A file that does not parse is printed
             with why, and the exit status is 1.
  show JOB   the resolved job of one stage (--stage, default the file's
             default_stage), with --set and --githash applied as herald
             deploy applies them: the job key, build, githash, the merged
             config and each method's rendered command.`

// jobsCmd is "herald jobs".
type jobsCmd struct {
	job jobFlags
	fs  *flag.FlagSet
}

func (c *jobsCmd) flags(fs *flag.FlagSet) {
	c.fs = fs
	c.job.add(fs)
}

func (c *jobsCmd) run(_ context.Context, _ *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want ls or show JOB")
	}
	verb := args[0]
	pos, err := parseInterleaved(c.fs, args[1:])
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	switch verb {
	case "ls":
		if len(pos) != 0 {
			return usageErrorf("ls takes no arguments")
		}
		return c.ls(s)
	case "show":
		if len(pos) != 1 {
			return usageErrorf("show wants exactly JOB")
		}
		return c.show(s, pos[0])
	}
	return usageErrorf("unknown jobs verb %q: want ls or show", verb)
}

func (c *jobsCmd) ls(s stdio) error {
	dir := c.job.jobsDir()
	files, bad, err := jobfile.LoadDir(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tCLUSTER\tROLE\tSTAGES\tHOOKS")
	for _, f := range files {
		var stages, hooks []string
		for _, st := range f.StageNames() {
			mark := ""
			if st == f.DefaultStage {
				mark = "*"
			}
			stages = append(stages, st+mark)
			hooks = append(hooks, fmt.Sprintf("%s:%s", st, onOff(f.Enabled(st))))
		}
		if len(hooks) == 0 {
			hooks = []string{onOff(f.EnableHooks)}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, dash(f.Cluster), dash(f.Role), dash(strings.Join(stages, ",")), strings.Join(hooks, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bad) == 0 {
		return nil
	}
	paths := make([]string, 0, len(bad))
	for p := range bad {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, e := range splitJoined(bad[p]) {
			fmt.Fprintln(s.errOut, e)
		}
	}
	fmt.Fprintf(s.errOut, "herald jobs: %d %s in %s not listed\n", len(bad), plural(len(bad), "file"), dir)
	return reported(ErrInvalidWatchFiles)
}

func (c *jobsCmd) show(s stdio, job string) error {
	f, v, err := c.job.resolve(job)
	if err != nil {
		return err
	}
	printValues(s, f, v)
	if len(f.Commands) == 0 {
		fmt.Fprintln(s.out, "commands: none")
		return nil
	}
	fmt.Fprintln(s.out, "commands:")
	failed := false
	for _, m := range f.Methods() {
		argv, err := f.Render(m, v)
		if err != nil {
			failed = true
			fmt.Fprintf(s.out, "  %s: (does not render: %v)\n", m, err)
			continue
		}
		fmt.Fprintf(s.out, "  %s: %s\n", m, shellWords(argv))
	}
	if failed {
		return reported(fmt.Errorf("%s: a command does not render", f.Path))
	}
	return nil
}

// printValues prints a job's resolved values: Chartbeat's "resulting job
// configuration".
func printValues(s stdio, f *jobfile.File, v *jobfile.Values) {
	fmt.Fprintf(s.out, "job: %s\nfile: %s\nstage: %s\n", v.Key(), f.Path, v.Stage)
	fmt.Fprintf(s.out, "build: %s\ngithash: %s\n", dash(v.Build), dash(v.Githash))
	fmt.Fprintf(s.out, "hooks enabled: %s\n", onOff(f.Enabled(v.Stage)))
	if len(v.Config) == 0 {
		fmt.Fprintln(s.out, "config: {}")
		return
	}
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(v.Config); err != nil {
		fmt.Fprintf(s.out, "config: (%v)\n", err)
		return
	}
	fmt.Fprintln(s.out, "config:")
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Fprintf(s.out, "  %s\n", l)
	}
}

// plainWordRe is an argument shown as it is; others are single-quoted.
var plainWordRe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./{}-]+$`)

// shellWords shows an argv for people to read (never run through a
// shell): each argument that is not plain is single-quoted.
func shellWords(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if plainWordRe.MatchString(a) {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
