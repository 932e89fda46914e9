package cli_test

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

// eightballSample is the seed's eightball file in the job file format.
var eightballSample = filepath.Join("..", "..", "deploy", "examples", "jobs", "eightball.yaml")

// herald validate checks the job files of herald deploy: the seed's
// eightball validates; unknown keys (the seed's own format), a template
// naming a value missing in one stage, a default_stage naming no stage
// and a method the dispatcher does not know are each reported with file
// and line; a job file is recognised by its keys wherever it is.
func TestMain_RunValidate_DeployJobFiles(t *testing.T) {
	t.Setenv(cli.EnvNATS, "nats://127.0.0.1:1") // validate must not need it

	t.Run("the eightball sample", func(t *testing.T) {
		r := run(t, nil, nil, "validate", eightballSample)
		if r.err != nil || r.out != "ok: 0 watches, 1 job files in 1 files\n" || r.errOut != "" {
			t.Errorf("exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
		r = run(t, nil, nil, "validate", filepath.Dir(eightballSample))
		if r.err != nil || r.out != "ok: 0 watches, 1 job files in 1 files\n" {
			t.Errorf("the directory: exit %d stdout %q stderr %q", r.code(), r.out, r.errOut)
		}
	})

	t.Run("the seed's own format", func(t *testing.T) {
		_, jobs := mkdirs(t)
		p := writeFile(t, jobs, "eightball.yaml", "file: eightball\nuser: cbe\nconfig:\n  cpu: 0.25\nenvs:\n  prod: {cpu: 1.5}\n")
		r := run(t, nil, nil, "validate", p)
		wantLines(t, r, []string{
			p + ":1: file: unknown field",
			p + ":2: user: unknown field",
			p + ":5: envs: unknown field",
		}, "3 problems in 1 of 1 files")
	})

	t.Run("templates, stages and methods", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "eightball.yaml", `cluster: bb
role: cbe
default_stage: dev
config: {cpu: 1}
stages:
  prod: {config: {file: eightball.aurora}}
  devel: {}
commands:
  create_job: ["aurora", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
`)
		r := run(t, nil, nil, "validate", p)
		wantLines(t, r, []string{
			p + `:3: default_stage: "dev" is not one of the stages (devel, prod)`,
		}, "1 problem in 1 of 1 files")

		writeFile(t, filepath.Dir(p), "eightball.yaml", `cluster: bb
role: cbe
default_stage: devel
config: {cpu: 1}
stages:
  prod: {config: {file: eightball.aurora}}
  devel: {}
commands:
  create_job: ["aurora", "job", "create", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}", "{{.config.file}}"]
  kill_jb: ["aurora", "job", "killall", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}"]
`)
		r = run(t, nil, nil, "validate", p)
		wantLines(t, r, []string{
			p + `:9: commands.create_job[4]: stage devel: no value for .config.file`,
		}, "1 problem in 1 of 1 files")

		writeFile(t, filepath.Dir(p), "eightball.yaml", `cluster: bb
role: cbe
config: {file: x.aurora}
commands:
  kill_jb: ["aurora", "job", "killall", "{{.cluster}}/{{.role}}/{{.stage}}/{{.job}}"]
`)
		r = run(t, nil, nil, "validate", p)
		wantLines(t, r, []string{
			p + `:5: commands.kill_jb: unknown method "kill_jb"; known: create_job, update_job, kill_job, restart, cancel_update, add_instances, start_cronjob (call_methods of the dispatcher config)`,
		}, "1 problem in 1 of 1 files")
	})
}
