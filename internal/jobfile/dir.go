package jobfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/yamlfile"
)

// IsJobFile reports whether name is a file a jobs directory holds: *.yaml
// or *.yml, not hidden.
func IsJobFile(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

// ReadFile reads and parses the job file at path.
func ReadFile(path string) (*File, error) {
	data, err := yamlfile.ReadFile(path)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return nil, (*FieldError)(ye)
		}
		return nil, err
	}
	return Parse(path, data)
}

// LoadDir reads every job file of dir, in name order: the files that
// parsed, and each that did not with why. Two files for one job are an
// error of the second.
func LoadDir(dir string) ([]*File, map[string]error, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && IsJobFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var files []*File
	bad := map[string]error{}
	byName := map[string]string{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		f, err := ReadFile(p)
		if err != nil {
			bad[p] = err
			continue
		}
		if prev, dup := byName[f.Name]; dup {
			bad[p] = &FieldError{File: p, Line: f.Lines["job"], Msg: fmt.Sprintf("job %q is already defined in %s", f.Name, prev)}
			continue
		}
		byName[f.Name] = p
		files = append(files, f)
	}
	return files, bad, nil
}

// Find returns the job file of job in dir: DIR/JOB.yaml or DIR/JOB.yml,
// else the one file of dir whose job: is JOB.
func Find(dir, job string) (*File, error) {
	if job == "" || strings.ContainsAny(job, `/\`) || strings.HasPrefix(job, ".") {
		return nil, fmt.Errorf("job %q: want a job name, such as eightball", job)
	}
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, job+ext)
		if _, err := os.Stat(p); err == nil {
			f, err := ReadFile(p)
			if err != nil {
				return nil, err
			}
			if f.Name == job {
				return f, nil
			}
		}
	}
	files, bad, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Name == job {
			return f, nil
		}
	}
	msg := fmt.Sprintf("no job file for job %q in %s (want %s.yaml, or a file with job: %s)", job, dir, job, job)
	if len(bad) > 0 {
		msg += fmt.Sprintf("; %d files there do not parse (herald validate %s)", len(bad), dir)
	}
	return nil, errors.New(msg)
}
