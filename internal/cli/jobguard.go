package cli

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/heraldhq/herald/events/call"
)

// jobKeyPartRe is one part of a job key as Aurora's client takes it.
var jobKeyPartRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// instancesRe is an instance list after a job key (bb/cbe/prod/eightball/0-3,5).
var instancesRe = regexp.MustCompile(`^[0-9][0-9,-]*$`)

// commandJobKeys returns the job keys CLUSTER/ROLE/ENV/NAME that the
// arguments of argv (after the program) name, each once, in order: an
// argument that is a key, a key followed by /INSTANCES, or --flag=KEY. An
// argument naming an existing file is a path, not a key.
func commandJobKeys(argv []string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, a := range argv[1:] {
		cand := a
		if strings.HasPrefix(a, "-") {
			_, v, ok := strings.Cut(a, "=")
			if !ok {
				continue
			}
			cand = v
		}
		k, ok := asJobKey(cand)
		if !ok || seen[k] {
			continue
		}
		if _, err := os.Stat(cand); err == nil {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

func asJobKey(s string) (string, bool) {
	parts := strings.Split(s, "/")
	if len(parts) == 5 && instancesRe.MatchString(parts[4]) {
		parts = parts[:4]
	}
	if len(parts) != 4 {
		return "", false
	}
	for _, p := range parts {
		if !jobKeyPartRe.MatchString(p) {
			return "", false
		}
	}
	return strings.Join(parts, "/"), true
}

// guardJob denies a call whose COMMAND names a job key other than the
// call's job (exit 3; the dispatcher is not asked), unless
// --allow-job-mismatch: then the keys are recorded in cl.JobMismatch, so
// that the pre hooks see them and call.post or call.err keeps them.
func (c *callCmd) guardJob(s stdio, cl *call.Call, command []string) error {
	var other []string
	for _, k := range commandJobKeys(command) {
		if k != cl.Job {
			other = append(other, k)
		}
	}
	if len(other) == 0 {
		return nil
	}
	if c.allowJobMismatch {
		cl.JobMismatch = other
		fmt.Fprintf(s.errOut, "herald call: --allow-job-mismatch: COMMAND names %s, the call's job is %s (recorded in the call as job_mismatch)\n", strings.Join(other, ", "), cl.Job)
		return nil
	}
	fmt.Fprintf(s.errOut, "herald call: %s %s denied: COMMAND names another job than the call's, so its hooks would check the wrong job; the command did not run:\n  job:     %s\n  COMMAND: %s\n(give the job COMMAND acts on, or --allow-job-mismatch to run it anyway, audited)\n",
		cl.Method, cl.Job, cl.Job, strings.Join(other, ", "))
	return reported(&ExitStatus{Code: ExitCallDenied, Msg: fmt.Sprintf("COMMAND names job %s, the call's job is %s", strings.Join(other, ", "), cl.Job)})
}
