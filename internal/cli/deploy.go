package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/jobfile"
)

// EnvJobs names the environment variable read when --jobs is absent.
const EnvJobs = "HERALD_JOBS"

// DefaultJobsDir is the jobs directory when neither --jobs nor $HERALD_JOBS
// gives one.
const DefaultJobsDir = "jobs"

const deployArgs = "METHOD JOB [--stage S] [--set KEY=VALUE]... [--githash SHA] [--yes] [--dry-run [--hooks DIR]] [--jobs DIR] [flags of herald call]"

const deployHelp = `Deploy a job from its job file, as Chartbeat's wrapper did: nobody types a
job key, a role or a githash.

  1. Read JOB's file from the jobs directory (--jobs DIR, $HERALD_JOBS,
     default ./jobs): JOB.yaml or JOB.yml, or the file whose job: is JOB.
  2. Resolve the stage (--stage, default the file's default_stage): the
     job's config with the stage's deep-merged over it (maps merge, scalars
     and lists replace), then each --set KEY=VALUE (KEY a dotted path into
     config; VALUE read as YAML: 2 a number, [a, b] a list); githash is the
     stage's, or --githash.
  3. Render the file's commands.METHOD: each template one argv element,
     never a shell. A template naming a missing value is an error naming
     it, and nothing runs.
  4. Run it exactly as herald call does (pre hooks with veto, COMMAND,
     call.post or call.err), with the job key CLUSTER/ROLE/STAGE/JOB from
     the file, and as the call's args githash and each top-level scalar of
     the merged config (HERALD_ARG_<KEY>); the whole merged config is the
     call's config on the hooks' stdin.

--dry-run prints the merged values, the command and which hooks would run,
and runs nothing (the dispatcher is not asked). The hooks are those of the
dispatcher's hooks directory given as --hooks DIR (read here, as the
dispatcher reads it); without it they are not listed.

The flags of herald call (--skip-hooks, --reason, --fail-open,
--pre-timeout, --kill-grace, --yes, the NATS flags, ...) apply, but --job
and --arg: the job file gives them. Exit status: as herald call's.`

// deployOmits are the flags of herald call that herald deploy does not
// take: the job file names the call.
var deployOmits = map[string]bool{"job": true, "arg": true}

// deployCmd is "herald deploy".
type deployCmd struct {
	call callCmd
	job  jobFlags
	// dryRun prints the plan and runs nothing; hooksDir is the
	// dispatcher's hooks directory it lists the hooks from.
	dryRun   bool
	hooksDir string
	fs       *flag.FlagSet
}

// jobFlags select and resolve a job file: herald deploy and herald jobs
// show.
type jobFlags struct {
	dir     string
	stage   string
	sets    []jobfile.Setting
	githash string
}

func (j *jobFlags) addDir(fs *flag.FlagSet) {
	fs.StringVar(&j.dir, "jobs", "", "the jobs `DIR` (default $"+EnvJobs+", then ./"+DefaultJobsDir+")")
}

func (j *jobFlags) add(fs *flag.FlagSet) {
	j.addDir(fs)
	fs.StringVar(&j.stage, "stage", "", "the `STAGE` (default: the job file's default_stage)")
	fs.Func("set", "set a config value `KEY=VALUE` (KEY a dotted path, VALUE YAML; repeatable, merged last)", func(s string) error {
		set, err := jobfile.ParseSetting(s)
		if err != nil {
			return err
		}
		j.sets = append(j.sets, set)
		return nil
	})
	fs.StringVar(&j.githash, "githash", "", "the build revision `SHA` (default: the stage's githash)")
}

// jobsDir is --jobs, $HERALD_JOBS, or ./jobs.
func (j *jobFlags) jobsDir() string {
	switch {
	case j.dir != "":
		return j.dir
	case os.Getenv(EnvJobs) != "":
		return os.Getenv(EnvJobs)
	}
	return DefaultJobsDir
}

// resolve reads job's file and resolves the stage.
func (j *jobFlags) resolve(job string) (*jobfile.File, *jobfile.Values, error) {
	f, err := jobfile.Find(j.jobsDir(), job)
	if err != nil {
		return nil, nil, err
	}
	if j.stage == "" && f.DefaultStage == "" {
		return nil, nil, usageErrorf("%s: no --stage, and the job file has no default_stage", f.Path)
	}
	v, err := f.Values(j.stage, j.sets, j.githash)
	if err != nil {
		return nil, nil, err
	}
	if f.Cluster == "" || f.Role == "" {
		return f, v, fmt.Errorf("%s: no cluster and role: the job key CLUSTER/ROLE/STAGE/JOB needs both", f.Path)
	}
	return f, v, nil
}

func (c *deployCmd) flags(fs *flag.FlagSet) {
	c.fs = fs
	// Every flag of herald call but those that name the call.
	callFlags := flag.NewFlagSet("call", flag.ContinueOnError)
	c.call.flags(callFlags)
	callFlags.VisitAll(func(f *flag.Flag) {
		if !deployOmits[f.Name] {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	c.job.add(fs)
	fs.BoolVar(&c.dryRun, "dry-run", false, "print the merged values, the command and the hooks that would run; run nothing")
	fs.StringVar(&c.hooksDir, "hooks", "", "with --dry-run: the dispatcher's hooks `DIR`, to list the hooks that would run")
}

func (c *deployCmd) run(ctx context.Context, _ *Main, s stdio, args []string) error {
	pos, err := parseInterleaved(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	if len(pos) != 2 {
		return usageErrorf("want METHOD JOB: herald deploy %s", deployArgs)
	}
	method, job := pos[0], pos[1]
	if err := call.ValidateMethod(method); err != nil {
		return &usageError{msg: strings.TrimPrefix(err.Error(), call.ErrInvalidCall.Error()+": ")}
	}
	if c.hooksDir != "" && !c.dryRun {
		return usageErrorf("--hooks goes with --dry-run (a deploy asks the dispatcher, which has its own)")
	}
	f, v, err := c.job.resolve(job)
	if err != nil {
		return err
	}
	argv, err := f.Render(method, v)
	if err != nil {
		return err
	}
	c.call.job, c.call.args = v.Key(), v.Args()
	cl, err := c.call.validate(method, argv)
	if err != nil {
		return err
	}
	cl.Config = v.Config
	if c.dryRun {
		return c.printPlan(s, f, v, cl, argv)
	}
	if err := c.call.guardJob(s, &cl, argv); err != nil {
		return err
	}
	if err := c.call.conn.resolve(); err != nil {
		return err
	}
	fmt.Fprintf(s.errOut, "herald deploy: %s %s (%s, stage %s): %s\n", method, cl.Job, f.Path, v.Stage, shellWords(argv))
	return c.call.perform(ctx, s, cl, argv)
}

// printPlan is --dry-run: what would be asked and run, nothing run.
func (c *deployCmd) printPlan(s stdio, f *jobfile.File, v *jobfile.Values, cl call.Call, argv []string) error {
	fmt.Fprintf(s.out, "method: %s\n", cl.Method)
	printValues(s, f, v)
	fmt.Fprintf(s.out, "command: %s\n", shellWords(argv))
	if keys := commandJobKeys(argv); len(keys) > 0 && (len(keys) > 1 || keys[0] != cl.Job) {
		fmt.Fprintf(s.out, "job mismatch: COMMAND names %s (a deploy would be denied without --allow-job-mismatch)\n", strings.Join(keys, ", "))
	}
	if c.hooksDir == "" {
		fmt.Fprintln(s.out, "hooks: not listed (give --hooks DIR, the dispatcher's hooks directory)")
	} else if err := printHooks(s, c.hooksDir, cl); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "dry run: nothing was run and the dispatcher was not asked")
	return nil
}

// printHooks lists the hooks of dir that a call would run, by phase, as
// the dispatcher picks them.
func printHooks(s stdio, dir string, cl call.Call) error {
	set, bad, err := hookfile.LoadDir(dir)
	if err != nil {
		return err
	}
	for p, err := range bad {
		fmt.Fprintf(s.errOut, "herald deploy: warning: %s is not loaded (the dispatcher keeps its previous version): %v\n", p, err)
	}
	job, err := call.ParseJob(cl.Job)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "hooks (%s):\n", dir)
	for _, phase := range []string{call.PhasePre, call.PhasePost, call.PhaseErr} {
		hs, generic := set.Matching(phase, cl.Method, job)
		if len(hs) == 0 {
			fmt.Fprintf(s.out, "  %-4s (none)\n", phase)
		}
		for _, h := range hs {
			note := ""
			if generic {
				note = " (generic)"
			}
			if cl.Skips(h.Name) {
				note += " (skipped: --skip-hooks)"
			}
			fmt.Fprintf(s.out, "  %-4s %s%s\n", phase, h.Name, note)
		}
	}
	return nil
}
