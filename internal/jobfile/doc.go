// Package jobfile holds the job file, one YAML file per job (NAME.yaml, in
// the deploy jobs directory and in the dispatcher's hooks/jobs/): the File
// and Stage types, their parsing and validation with located errors (file,
// line, field), the deep merge of a stage's and --set values over the
// job's config (Values), the rendering of a method's argv template into one
// argv element per template (Render), and reading a jobs directory (Find,
// LoadDir). Chartbeat's per-job YAML with per-stage overrides, and Aurora's
// enable_hooks opt-in, are both this file.
//
// It must not know how a call is asked, run or reported (package cli), how
// hooks are chosen or run (packages hookfile, callhooks), NATS, or any
// shell: a rendered command is an argv, never a command line.
package jobfile
